"""What a pipeline is doing, read from the log and table metadata only.

Nothing here opens a data file, so ``lakeforge status`` stays cheap on a large lake
and can run while the pipeline runs.
"""

from __future__ import annotations

import time
from typing import Any

from lakeforge.lake import LakeTable
from lakeforge.profiles.base import Profile
from lakeforge.spec.model import Pipeline
from lakeforge.stream.dead_letters import bronze_table_name, dead_letter_table_name


def _open(profile: Profile, name: str, existing: set[str]) -> LakeTable | None:
    return profile.warehouse.open_table(name) if name in existing else None


def _table_status(table: LakeTable | None, now: float) -> dict[str, Any]:
    if table is None:
        return {"exists": False, "rows": {"iceberg": 0, "delta": 0}, "positions": {}}
    stats = table.stats()
    committed = stats.last_commit_time.timestamp() if stats.last_commit_time else None
    latest_event = stats.last_properties.get("lakeforge.max_event_time_us")
    return {
        "exists": True,
        "rows": {"iceberg": stats.rows, "delta": table.delta_rows()},
        "files": stats.files,
        "commits": stats.sequence,
        "positions": stats.positions,
        "last_commit_age_s": None if committed is None else round(now - committed, 3),
        "freshness_s": None if latest_event is None else round(now - int(latest_event) / 1e6, 3),
    }


def pipeline_status(pipeline: Pipeline, profile: Profile) -> dict[str, Any]:
    """Offsets, lag, rows per table and format, dead letters and freshness."""
    now = time.time()
    bus = profile.bus
    existing = {info.name for info in profile.warehouse.list_tables()}
    topics: dict[str, Any] = {}
    for topic in pipeline.topics:
        ends, starts = bus.end_offsets(topic.name), bus.start_offsets(topic.name)
        topics[topic.name] = {
            "partitions": len(ends),
            "messages_held": sum(ends[p] - starts.get(p, 0) for p in ends),
            "end_offsets": ends,
        }
    tables: dict[str, Any] = {}
    for spec in pipeline.bronze:
        name = bronze_table_name(spec.table)
        bronze = _table_status(_open(profile, name, existing), now)
        ends = topics[spec.topic]["end_offsets"]
        starts = bus.start_offsets(spec.topic)
        positions = bronze["positions"]
        bronze["lag"] = sum(ends[p] - positions.get(p, starts.get(p, 0)) for p in ends)
        dead_name = dead_letter_table_name(spec.table)
        dead = _table_status(_open(profile, dead_name, existing), now)
        bronze["dead_letters"] = dead["rows"]["delta"]
        bronze["layer"] = "bronze"
        bronze["topic"] = spec.topic
        tables[name] = bronze
        tables[dead_name] = {**dead, "layer": "bronze", "kind": "dead_letters"}
    return {"pipeline": pipeline.name, "topics": topics, "tables": tables}
