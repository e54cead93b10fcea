"""Commit cost and table size over a long stream of commits, with and without upkeep.

    .venv/bin/python bench/upkeep_bench.py [--commits 10000] [--rows 1000] [--every 500]

Commits ``--commits`` batches of ``--rows`` trade-like rows to a fresh table, as a
runner would at full speed, and every ``--every`` commits runs ``maintain_table``
(compaction to ``--target-file-mb``, Delta log clean-up, vacuum with no retention:
nothing else reads this table). A second table gets the same commits without upkeep.
Per window of ``--every`` commits it reports the commit time (median, p99), the data
files the table holds, the files on disk (data, Iceberg metadata, Delta log) and the
Iceberg metadata JSON's size, so that growth shows as a trend, not a single figure.

``--by-day`` partitions the tables by day, as bronze is: each batch gets an
``_ingested_at`` column from a simulated clock that moves one day every
``--commits-per-day`` commits, so that the run spans days and compaction works within
each.

A stream at 400 ms batches makes 9,000 commits an hour. Delta's log keeps ten minutes
of commits (``LOG_RETENTION`` in ``lakeforge/lake/delta_log.py``), so the log reaches
its steady size once the run is longer than that: 10,000 commits at ~70 ms take ~12
minutes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lake_bench import SCHEMA, positions_after, trades
from machine import describe

from lakeforge.lake import LakeTable, Warehouse
from lakeforge.lake.maintain import maintain_table


def _count(folder: Path, pattern: str = "*") -> int:
    return sum(1 for _ in folder.glob(pattern)) if folder.exists() else 0


def footprint(root: Path, name: str) -> dict[str, int]:
    """Files on disk of table ``bench.<name>``, and its metadata JSON's size."""
    delta = root / "delta" / "bench" / name
    iceberg = root / "iceberg" / "bench" / name / "metadata"
    jsons = sorted(iceberg.glob("*.metadata.json"))
    return {
        "data_files_on_disk": _count(delta / "data", "**/*.parquet"),
        "delta_log_files": _count(delta / "_delta_log"),
        "iceberg_metadata_files": _count(iceberg),
        "metadata_json_bytes": jsons[-1].stat().st_size if jsons else 0,
    }


def stream(
    table: LakeTable, root: Path, name: str, args: argparse.Namespace, upkeep: bool
) -> list[dict[str, object]]:
    """Commit, window by window; maintain between windows when ``upkeep``."""
    rng = np.random.default_rng(3)
    windows: list[dict[str, object]] = []
    offset = 0
    for first in range(0, args.commits, args.every):
        window_began = time.perf_counter()
        times, deltas, icebergs = [], [], []
        for _ in range(min(args.every, args.commits - first)):
            rows = trades(offset, args.rows, rng)
            if args.by_day:
                rows = ingested(rows, first + len(times), args.commits_per_day)
            offset += args.rows
            began = time.perf_counter()
            result = table.commit(rows, positions_after(rows))
            times.append((time.perf_counter() - began) * 1000)
            assert result is not None
            deltas.append(result.delta_ms)
            icebergs.append(result.iceberg_ms)
        maintain_s = None
        if upkeep:
            began = time.perf_counter()
            # Retention 0 only because nothing else reads or writes this table.
            maintain_table(table, target_file_mb=args.target_file_mb, retain_hours=0)
            maintain_s = time.perf_counter() - began
        window = {
            "commits": f"{first + 1}-{first + len(times)}",
            "commit_ms_median": round(statistics.median(times), 1),
            "commit_ms_p99": round(float(np.percentile(times, 99)), 1),
            "delta_ms_median": round(statistics.median(deltas), 1),
            "iceberg_ms_median": round(statistics.median(icebergs), 1),
            "seconds": round(time.perf_counter() - window_began, 1),
            "data_files_live": len(table.live_files()),
            **footprint(root, name),
            "maintain_s": round(maintain_s, 2) if maintain_s is not None else None,
        }
        windows.append(window)
        print(f"  {name}: " + ", ".join(f"{k} {v}" for k, v in window.items()), flush=True)
    rows_iceberg, rows_delta = table.read("iceberg").num_rows, table.read("delta").num_rows
    assert rows_iceberg == rows_delta == offset, (rows_iceberg, rows_delta, offset)
    return windows


#: The column that partitions ``--by-day`` tables, as bronze's does.
DAY_FIELD = pa.field("_ingested_at", pa.timestamp("us", tz="UTC"), nullable=False)
#: The first simulated ingestion moment of ``--by-day`` runs.
_FIRST_DAY = datetime(2026, 11, 1, tzinfo=UTC)


def ingested(rows: pa.Table, commit: int, commits_per_day: int) -> pa.Table:
    """``rows`` with the ``_ingested_at`` of the ``commit``-th batch on the simulated clock."""
    moment = _FIRST_DAY + timedelta(days=commit / commits_per_day)
    column = pa.array([moment] * rows.num_rows, pa.timestamp("us", tz="UTC"))
    return rows.append_column(DAY_FIELD, column)


def main() -> None:
    """Run both tables one after the other in a temporary warehouse."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--every", type=int, default=500)
    parser.add_argument("--target-file-mb", type=int, default=8)
    parser.add_argument("--skip-without", action="store_true", help="only the table with upkeep")
    parser.add_argument("--by-day", action="store_true", help="partition the tables by day")
    parser.add_argument("--commits-per-day", type=int, default=2_500)
    parser.add_argument("--json", type=Path, default=Path("bench/results/upkeep.json"))
    args = parser.parse_args()
    results: dict[str, object] = {"machine": describe(), "args": vars(args) | {"json": None}}
    with tempfile.TemporaryDirectory() as folder, Warehouse(Path(folder)) as warehouse:
        root = Path(folder)
        for name, upkeep in (("with_upkeep", True), ("without_upkeep", False)):
            if not upkeep and args.skip_without:
                continue
            print(f"{name}: {args.commits} commits of {args.rows} rows", flush=True)
            if args.by_day:
                schema = SCHEMA.append(DAY_FIELD)
                table = warehouse.table(f"bench.{name}", schema, DAY_FIELD.name)
            else:
                table = warehouse.table(f"bench.{name}", SCHEMA)
            results[name] = stream(table, root, name, args, upkeep)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    print(f"results: {args.json}")


if __name__ == "__main__":
    main()
