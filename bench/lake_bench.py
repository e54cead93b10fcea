"""Benchmark lake commits: big batches (throughput) and many small ones (metadata growth).

    .venv/bin/python bench/lake_bench.py [--rows 1000000] [--batch 100000] [--small 300]

Part 1 commits ``--rows`` trade-like rows in ``--batch``-row batches and reports, per
batch, the Parquet write, Delta commit and Iceberg commit times, then rows/s over the
whole ``commit`` call. Part 2 commits ``--small`` batches of 100 rows to a new table and
reports commit times by window, to show whether they grow with history.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from lakeforge.lake import CommitResult, Warehouse

SCHEMA = pa.schema(
    [
        ("_partition", pa.int32()),
        ("_offset", pa.int64()),
        ("trade_id", pa.int64()),
        ("symbol", pa.string()),
        ("price", pa.float64()),
        ("size", pa.int32()),
        ("exchange", pa.string()),
        ("conditions", pa.list_(pa.string())),
        ("tape", pa.string()),
        ("event_time", pa.timestamp("us", tz="UTC")),
    ]
)
SYMBOLS = np.array(["AAPL", "MSFT", "NVDA", "AMZN", "GOOG", "META", "TSLA", "AMD", "IBM", "INTC"])
EXCHANGES = np.array(["NASDAQ", "NYSE", "ARCA", "BATS", "IEX", "EDGX"])
PARTITIONS = 4


def trades(start: int, count: int, rng: np.random.Generator) -> pa.Table:
    """``count`` trades with global sequence numbers from ``start``, spread over partitions."""
    ids = np.arange(start, start + count, dtype=np.int64)
    conditions = pa.ListArray.from_arrays(
        pa.array(np.arange(count + 1, dtype=np.int32)), pa.array(np.full(count, "@"))
    )
    return pa.table(
        {
            "_partition": pa.array((ids % PARTITIONS).astype(np.int32)),
            "_offset": pa.array(ids // PARTITIONS),
            "trade_id": pa.array(ids),
            "symbol": pa.array(rng.choice(SYMBOLS, count)),
            "price": pa.array(np.round(rng.uniform(10, 900, count), 2)),
            "size": pa.array(rng.integers(1, 1000, count, dtype=np.int32)),
            "exchange": pa.array(rng.choice(EXCHANGES, count)),
            "conditions": conditions,
            "tape": pa.array(rng.choice(np.array(["A", "B", "C"]), count)),
            "event_time": pa.array(
                1_767_225_600_000_000 + ids * 1000, pa.timestamp("us", tz="UTC")
            ),
        },
        schema=SCHEMA,
    )


def positions_after(rows: pa.Table) -> dict[int, int]:
    """Each partition's next offset after ``rows``."""
    grouped = rows.group_by("_partition").aggregate([("_offset", "max")])
    return {p: o + 1 for p, o in zip(*grouped.to_pydict().values(), strict=True)}


def big_batches(warehouse: Warehouse, total: int, batch: int) -> dict[str, object]:
    """Part 1: throughput of large batches."""
    table = warehouse.table("bench.big", SCHEMA)
    rng = np.random.default_rng(7)
    results: list[CommitResult] = []
    elapsed = 0.0
    for start in range(0, total, batch):
        rows = trades(start, min(batch, total - start), rng)
        began = time.perf_counter()
        result = table.commit(rows, positions_after(rows))
        elapsed += time.perf_counter() - began
        assert result is not None
        results.append(result)
        print(
            f"  batch {result.sequence:3d}: {result.rows} rows  parquet {result.parquet_ms:6.1f} ms"
            f"  delta {result.delta_ms:6.1f} ms  iceberg {result.iceberg_ms:6.1f} ms"
        )
    summary = {
        "rows": total,
        "batch": batch,
        "parquet_ms_median": statistics.median(r.parquet_ms for r in results),
        "delta_ms_median": statistics.median(r.delta_ms for r in results),
        "iceberg_ms_median": statistics.median(r.iceberg_ms for r in results),
        "rows_per_second": total / elapsed,
    }
    print(f"  {total} rows in {elapsed:.2f} s: {total / elapsed:,.0f} rows/s")
    return summary


def small_batches(warehouse: Warehouse, commits: int, window: int = 50) -> dict[str, object]:
    """Part 2: commit time as history grows (100-row batches), median and max per window."""
    table = warehouse.table("bench.small", SCHEMA)
    rng = np.random.default_rng(11)
    totals, deltas, icebergs = [], [], []
    for i in range(commits):
        rows = trades(i * 100, 100, rng)
        began = time.perf_counter()
        result = table.commit(rows, positions_after(rows))
        totals.append((time.perf_counter() - began) * 1000)
        assert result is not None
        deltas.append(result.delta_ms)
        icebergs.append(result.iceberg_ms)
    windows = {}
    for first in range(0, commits, window):
        part = slice(first, first + window)
        key = f"commits {first + 1}-{min(first + window, commits)}"
        windows[key] = {
            "commit_ms_median": statistics.median(totals[part]),
            "commit_ms_max": max(totals[part]),
            "delta_ms_median": statistics.median(deltas[part]),
            "iceberg_ms_median": statistics.median(icebergs[part]),
        }
        stats = windows[key]
        print(
            f"  {key:>17}: commit median {stats['commit_ms_median']:6.1f} ms"
            f" (max {stats['commit_ms_max']:6.1f})  delta {stats['delta_ms_median']:5.1f} ms"
            f"  iceberg {stats['iceberg_ms_median']:5.1f} ms"
        )
    metadata = Path(table.iceberg_metadata_location)
    versions = len(list(metadata.parent.glob("*.metadata.json")))
    print(f"  metadata JSON: {metadata.stat().st_size:,} bytes, {versions} versions kept")
    return {"commits": commits, "windows": windows, "metadata_bytes": metadata.stat().st_size}


def main() -> None:
    """Run both parts in a temporary warehouse and print the numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=300)
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root, Warehouse(Path(root)) as warehouse:
        print(f"part 1: {args.rows} rows in batches of {args.batch}")
        big = big_batches(warehouse, args.rows, args.batch)
        small: dict[str, object] = {}
        if args.small:
            print(f"part 2: {args.small} commits of 100 rows")
            small = small_batches(warehouse, args.small)
    if args.json:
        print(json.dumps({"big": big, "small": small}, indent=2))


if __name__ == "__main__":
    main()
