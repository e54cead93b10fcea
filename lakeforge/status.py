"""What a pipeline is doing, from the log, table metadata and its running processes.

No data file is opened, so ``lakeforge status`` stays cheap on a large lake and can run
while the pipeline runs. Rates come from the running processes' metrics endpoints
(sampled twice, about a second apart) or, when none runs, from the rate the stream
runner recorded with its last commit.
"""

from __future__ import annotations

import time
from typing import Any

from lakeforge.bus.base import Bus
from lakeforge.lake import LakeTable
from lakeforge.observe.live import SAMPLE_INTERVAL_S, live_report
from lakeforge.observe.stream import DEAD_LETTER_KINDS, ROWS_PER_SECOND, parse_kinds
from lakeforge.observe.transform import last_transform
from lakeforge.profiles.base import Profile
from lakeforge.spec.model import Pipeline
from lakeforge.stream.dead_letters import bronze_table_name, dead_letter_table_name
from lakeforge.stream.runner import NEWEST_EVENT


def _open(profile: Profile, name: str, existing: set[str]) -> LakeTable | None:
    return profile.warehouse.open_table(name) if name in existing else None


def _table_status(table: LakeTable | None, now: float) -> tuple[dict[str, Any], dict[str, str]]:
    """A table's status, and the properties of its last commit."""
    if table is None:
        return {"exists": False, "rows": {"iceberg": 0, "delta": 0}, "positions": {}}, {}
    stats = table.stats()
    committed = stats.last_commit_time.timestamp() if stats.last_commit_time else None
    latest_event = stats.last_properties.get(NEWEST_EVENT)
    rate = stats.last_properties.get(ROWS_PER_SECOND)
    return {
        "exists": True,
        "rows": {"iceberg": stats.rows, "delta": table.delta_rows()},
        "files": stats.files,
        "commits": stats.sequence,
        "positions": stats.positions,
        "last_commit_age_s": None if committed is None else round(now - committed, 3),
        "freshness_s": None if latest_event is None else round(now - int(latest_event) / 1e6, 3),
        "rows_per_second": None if rate is None else float(rate),
    }, stats.last_properties


def _partitions(bus: Bus, topic: str, ends: dict[int, int], positions: dict[int, int]) -> list[Any]:
    """Per partition: log end, committed position (the first held if none) and lag."""
    starts = bus.start_offsets(topic)
    rows = []
    for partition in sorted(ends):
        committed = positions.get(partition, starts.get(partition, 0))
        rows.append(
            {
                "partition": partition,
                "log_end": ends[partition],
                "committed": committed,
                "lag": max(0, ends[partition] - committed),
            }
        )
    return rows


def _dead_letter_kinds(total: int, properties: dict[str, str]) -> dict[str, int]:
    """Dead letters per kind, as the runner recorded them with its last dead-letter commit."""
    kinds = parse_kinds(properties.get(DEAD_LETTER_KINDS)) or {}
    # Letters committed before kinds were recorded: counted, but of no known kind.
    unknown = total - sum(kinds.values())
    return {**kinds, "unknown": unknown} if unknown > 0 else kinds


def _bronze_tables(pipeline: Pipeline, profile: Profile, now: float) -> dict[str, Any]:
    existing = {info.name for info in profile.warehouse.list_tables()}
    tables: dict[str, Any] = {}
    for spec in pipeline.bronze:
        name = bronze_table_name(spec.table)
        bronze, _ = _table_status(_open(profile, name, existing), now)
        ends = profile.bus.end_offsets(spec.topic)
        bronze["partitions"] = _partitions(profile.bus, spec.topic, ends, bronze["positions"])
        bronze["lag"] = sum(p["lag"] for p in bronze["partitions"])
        dead_name = dead_letter_table_name(spec.table)
        dead, properties = _table_status(_open(profile, dead_name, existing), now)
        bronze["dead_letters"] = dead["rows"]["delta"]
        bronze["dead_letters_by_kind"] = _dead_letter_kinds(bronze["dead_letters"], properties)
        bronze["layer"] = "bronze"
        bronze["topic"] = spec.topic
        tables[name] = bronze
        tables[dead_name] = {**dead, "layer": "bronze", "kind": "dead_letters"}
    return tables


def _rates(live: dict[str, Any], tables: dict[str, Any]) -> dict[str, Any]:
    """Rates from running processes, else from what the last commits recorded."""
    rates = dict(live["rates"])
    if rates["window_s"] is not None:
        return {"source": "processes", **rates}
    recorded = [
        t["rows_per_second"] for t in tables.values() if t.get("rows_per_second") is not None
    ]
    if recorded:
        return {**rates, "source": "last_commit", "bronze_per_s": sum(recorded)}
    return {"source": None, **rates}


def pipeline_status(
    pipeline: Pipeline, profile: Profile, sample_seconds: float = SAMPLE_INTERVAL_S
) -> dict[str, Any]:
    """Offsets and lag, rows, dead letters by kind, freshness, rates, transform, processes.

    Takes about ``sample_seconds`` longer when processes run: their counters are read
    twice to measure rates.
    """
    live = live_report(pipeline, sample_seconds)
    now = time.time()
    bus = profile.bus
    topics: dict[str, Any] = {}
    for topic in pipeline.topics:
        ends, starts = bus.end_offsets(topic.name), bus.start_offsets(topic.name)
        topics[topic.name] = {
            "partitions": len(ends),
            "messages_held": sum(ends[p] - starts.get(p, 0) for p in ends),
            "end_offsets": ends,
        }
    tables = _bronze_tables(pipeline, profile, now)
    bronze_ages = [t["freshness_s"] for t in tables.values() if t.get("freshness_s") is not None]
    return {
        "pipeline": pipeline.name,
        "processes": live["processes"],
        "rates": _rates(live, tables),
        "freshness": {
            # Newest event time in bronze to now: how far behind bronze is.
            "bronze_s": max(bronze_ages) if bronze_ages else None,
            # From running processes: the slowest record of each layer's last commit.
            "last_commit_s": live["freshness_s"],
        },
        "topics": topics,
        "tables": tables,
        "transform": last_transform(pipeline),
    }
