"""Data files per day partition while a stream commits and compaction runs on schedule.

    .venv/bin/python bench/days_bench.py [--days 2] [--batches-per-day 600]
        [--rows 10000] [--maintain-every 100] [--target-file-mb 1]

A bronze-like table partitioned by the day of ``_ingested_at`` takes ``--batches-per-day``
batches of ``--rows`` rows for each of ``--days`` simulated days (each batch ingested at
one moment of its day, as the runner does), and ``maintain_table`` runs after every
``--maintain-every`` batches, as ``lakeforge run`` schedules it. At the end it reports,
per day: batches, bytes, data files, and the bytes over the target file size.

A real day is too big to write here (100k trades/s is 8.6 billion trades a day), so the
day is scaled down together with the target: what sets the files a day keeps is the
day's bytes over the target size, not the number of batches. ``--target-file-mb 1`` on
a day of ~100 MB has the ratio of the default 512 MB target on a ~50 GB day.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lake_bench import SCHEMA, positions_after, trades
from machine import describe

from lakeforge.lake import LakeTable, Warehouse
from lakeforge.lake.maintain import MIB, maintain_table

DAY_COLUMN = "_ingested_at"
BRONZE = SCHEMA.append(pa.field(DAY_COLUMN, pa.timestamp("us", tz="UTC"), nullable=False))
FIRST_DAY = datetime(2026, 11, 1, tzinfo=UTC)


def ingested(rows: pa.Table, moment: datetime) -> pa.Table:
    """``rows`` with the ingestion column, all at ``moment`` (one batch, one moment)."""
    column = pa.array(
        np.full(rows.num_rows, int(moment.timestamp() * 1e6)), BRONZE.field(DAY_COLUMN).type
    )
    return rows.append_column(BRONZE.field(DAY_COLUMN), column)


def files_per_day(table: LakeTable) -> dict[str, int]:
    """How many data files each day partition holds now."""
    return dict(sorted(Counter(f.day or "none" for f in table.live_files()).items()))


def main() -> None:
    """Stream the simulated days, maintaining on schedule; print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--batches-per-day", type=int, default=600)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--maintain-every", type=int, default=100)
    parser.add_argument("--target-file-mb", type=int, default=1)
    parser.add_argument("--json", type=Path, default=Path("bench/results/days.json"))
    args = parser.parse_args()
    rng = np.random.default_rng(5)
    step = timedelta(days=1) / args.batches_per_day
    offset = 0
    began = time.perf_counter()
    maintain_s: list[float] = []
    with tempfile.TemporaryDirectory() as folder, Warehouse(Path(folder)) as warehouse:
        table = warehouse.table("bench.trades", BRONZE, DAY_COLUMN)
        for batch in range(args.days * args.batches_per_day):
            rows = ingested(trades(offset, args.rows, rng), FIRST_DAY + batch * step)
            offset += args.rows
            assert table.commit(rows, positions_after(rows)) is not None
            if (batch + 1) % args.maintain_every == 0:
                started = time.perf_counter()
                maintain_table(table, target_file_mb=args.target_file_mb, retain_hours=0)
                maintain_s.append(time.perf_counter() - started)
                print(
                    f"  after batch {batch + 1}: files per day {files_per_day(table)}", flush=True
                )
        live = table.live_files()
        days: dict[str, dict[str, float]] = {}
        for f in live:
            day = days.setdefault(f.day or "none", {"files": 0, "bytes": 0})
            day["files"] += 1
            day["bytes"] += f.size
        for day in days.values():
            day["bytes_over_target"] = round(day["bytes"] / (args.target_file_mb * MIB), 1)
        rows_iceberg, rows_delta = table.read("iceberg").num_rows, table.read("delta").num_rows
        assert rows_iceberg == rows_delta == offset, (rows_iceberg, rows_delta, offset)
    results = {
        "machine": describe(),
        "args": vars(args) | {"json": None},
        "rows": offset,
        "bytes_per_row": round(sum(f.size for f in live) / offset, 2),
        "days": days,
        "maintain_s_median": round(float(np.median(maintain_s)), 2) if maintain_s else None,
        "maintain_s_max": round(max(maintain_s), 2) if maintain_s else None,
        "seconds": round(time.perf_counter() - began, 1),
    }
    print(json.dumps({k: v for k, v in results.items() if k != "machine"}, indent=2))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
