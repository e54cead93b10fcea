"""CPU per bronze row of writing Parquet, by writer option: the runner's floor.

    .venv/bin/python bench/parquet_bench.py [--rows 200000] [--repeat 7]

Writes one runner batch of bronze-like trades (the record's fields and the ingestion
columns) with the options lakeforge uses, and with statistics, compression or
dictionaries taken away in turn, so that each one's share of the cost shows. Each figure
is the least CPU time of ``--repeat`` writes (one thread), and the file's size.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from codec_bench import trades
from machine import describe

from lakeforge.lake.parquet import COMPRESSION, COMPRESSION_LEVEL, DICTIONARY_PAGE_LIMIT

LAKEFORGE: dict[str, Any] = {
    "compression": COMPRESSION,
    "compression_level": COMPRESSION_LEVEL,
    "dictionary_pagesize_limit": DICTIONARY_PAGE_LIMIT,
}
#: The columns readers prune on most: statistics only for these.
PRUNING = ["symbol", "event_time", "trade_id", "_partition", "_offset", "_ingested_at"]
OPTIONS: dict[str, dict[str, Any]] = {
    "lakeforge (zstd-1, statistics, dictionaries)": LAKEFORGE,
    "statistics on 6 columns only": {**LAKEFORGE, "write_statistics": PRUNING},
    "no statistics": {**LAKEFORGE, "write_statistics": False},
    "snappy": {**LAKEFORGE, "compression": "snappy", "compression_level": None},
    "no compression": {**LAKEFORGE, "compression": "none", "compression_level": None},
    "no dictionaries": {**LAKEFORGE, "use_dictionary": False},
    "no compression, no statistics": {
        **LAKEFORGE,
        "compression": "none",
        "compression_level": None,
        "write_statistics": False,
    },
}


def bronze_rows(count: int) -> pa.Table:
    """A runner batch: trades, then the ingestion columns lakeforge adds."""
    rows = trades(count)
    moment = np.full(count, 1_790_000_000_000_000, dtype=np.int64)
    return (
        rows.append_column("_topic", pa.array(["trades"] * count))
        .append_column("_partition", pa.array(np.arange(count, dtype=np.int32) % 4))
        .append_column("_offset", pa.array(np.arange(count, dtype=np.int64) // 4))
        .append_column("_ingested_at", pa.array(moment, pa.timestamp("us", tz="UTC")))
    )


def main() -> None:
    """Time each option; print a table and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json", type=Path, default=Path("bench/results/parquet.json"))
    args = parser.parse_args()
    rows = bronze_rows(args.rows)
    cpu: dict[str, list[float]] = {name: [] for name in OPTIONS}
    size: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "batch.parquet"
        for _ in range(args.repeat):  # options interleaved: noise hits them alike
            for name, options in OPTIONS.items():
                began = time.process_time()
                pq.write_table(rows, target, **options)
                cpu[name].append(time.process_time() - began)
                size[name] = target.stat().st_size
    results = {
        name: {
            "cpu_ms": round(min(cpu[name]) * 1000, 1),
            "us_per_row": round(min(cpu[name]) / args.rows * 1e6, 3),
            "mb": round(size[name] / 1e6, 2),
        }
        for name in OPTIONS
    }
    print(f"| option | CPU ms per {args.rows:,} rows | µs per row | file MB |")
    print("|---|---|---|---|")
    for name, figures in results.items():
        print(f"| {name} | {figures['cpu_ms']} | {figures['us_per_row']} | {figures['mb']} |")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"machine": describe(), "results": results}, indent=2))


if __name__ == "__main__":
    main()
