"""Benchmark of silver and gold: freshness event -> gold, incremental vs full, first gold row.

Measures, in one run on one machine (compare ratios: the machine is shared):

1. `lakeforge run` at a fixed rate (default 100k trades/s) with transforms on a short
   schedule: seconds from `lakeforge run` starting to the first gold row in the lake, and
   freshness event -> gold over every trade: the time its transform published gold
   minus its event time, p50 and p99 (exact, from silver's `_transform_run` and each
   run's finish time in the transform history);
2. after the stream stops and more trades arrive: an incremental transform of those
   trades vs a full rebuild of every layer (`--full-refresh`), in seconds.

    python bench/medallion_bench.py [--seconds 60] [--rate 100000] [--schedule 2s]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe, markdown

from lakeforge.lake import Warehouse
from lakeforge.serve.database import connect_lake

ROOT = Path(__file__).resolve().parents[1]


def lakeforge(folder: Path, *args: str, env: dict[str, str] | None = None) -> str:
    command = [sys.executable, "-m", "lakeforge.cli.main", *args, "--pipeline", str(folder)]
    done = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, **(env or {})}, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"lakeforge {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def gold_rows(warehouse_root: Path) -> int:
    if not (warehouse_root / "catalog.db").exists():
        return 0
    with Warehouse(warehouse_root) as warehouse:
        return sum(t.rows for t in warehouse.list_tables() if t.name == "gold.gold_bars_1m")


def stream(folder: Path, seconds: float, rate: float, schedule: str) -> dict[str, float]:
    env = {**os.environ, "LAKEFORGE__TRANSFORM__SCHEDULE": schedule}
    command = [sys.executable, "-m", "lakeforge.cli.main", "run", "--pipeline", str(folder)]
    command += ["--duration", str(seconds), "--rate", str(rate), "--registry-port", "0"]
    started = time.monotonic()
    run = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    first_gold = float("nan")
    warehouse = folder / ".lakeforge" / "warehouse"
    while run.poll() is None:
        if first_gold != first_gold and gold_rows(warehouse) > 0:  # NaN: not seen yet
            first_gold = time.monotonic() - started
        time.sleep(0.5)
    if run.returncode != 0:
        errors = run.stderr.read().decode() if run.stderr else ""
        raise SystemExit(f"lakeforge run failed: {errors}")
    return {"first_gold_row_s": first_gold, **freshness(folder)}


def freshness(folder: Path) -> dict[str, float]:
    """Exact freshness event -> gold over every trade a scheduled transform published."""
    history = folder / ".lakeforge" / "transform" / "history.jsonl"
    runs = [json.loads(line) for line in history.read_text().splitlines()]
    published = {
        r["run"]: datetime.fromisoformat(r["finished_at"]).timestamp()
        for r in runs
        if r["status"] == "success"
    }
    with Warehouse(folder / ".lakeforge" / "warehouse") as warehouse:
        connection = connect_lake(warehouse)
    connection.execute("CREATE TABLE published (run BIGINT, published_at DOUBLE)")
    connection.executemany("INSERT INTO published VALUES (?, ?)", list(published.items()))
    row = connection.execute(
        "SELECT quantile_cont(p.published_at - epoch(s.event_time), [0.5, 0.99]), count(*), "
        "count(DISTINCT s._transform_run) "
        "FROM silver.silver_trades s JOIN published p ON s._transform_run = p.run"
    ).fetchone()
    assert row is not None
    durations = [r["duration_seconds"] for r in runs if r["status"] == "success"]
    return {
        "gold_freshness_p50_s": row[0][0],
        "gold_freshness_p99_s": row[0][1],
        "trades_measured": row[1],
        "transforms": row[2],
        "transform_median_s": sorted(durations)[len(durations) // 2],
    }


def incremental_vs_full(folder: Path, trades: int) -> dict[str, float]:
    lakeforge(folder, "produce", "--count", str(trades), "--rate", "0")
    lakeforge(folder, "process", "--until-drained")
    incremental = json.loads(lakeforge(folder, "transform", "--json"))
    full = json.loads(lakeforge(folder, "transform", "--full-refresh", "--json"))
    return {
        "incremental_trades": trades,
        "incremental_s": incremental["duration_seconds"],
        "full_rebuild_s": full["duration_seconds"],
        "silver_rows": next(
            m["rows"] for m in full["models"] if m["name"] == "silver.silver_trades"
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rate", type=float, default=100_000)
    parser.add_argument("--schedule", default="2s", help="transform.schedule while streaming")
    parser.add_argument("--increment", type=int, default=500_000)
    parser.add_argument("--json", type=Path, help="Also write the results here.")
    args = parser.parse_args()
    results: dict[str, object] = {"machine": describe(), "rate_per_s": args.rate}
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work) / "stocks"
        shutil.copytree(
            ROOT / "examples" / "stocks", folder, ignore=shutil.ignore_patterns(".lakeforge")
        )
        results.update(stream(folder, args.seconds, args.rate, args.schedule))
        results.update(incremental_vs_full(folder, args.increment))
    print(markdown(describe()))
    print(json.dumps({k: v for k, v in results.items() if k != "machine"}, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
