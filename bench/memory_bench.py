"""Bounded memory: the runner catches up a full log with flat memory and steady speed.

Fills the embedded log of a fresh copy of examples/stocks with N trades (default 10M)
while no runner runs, then starts ``lakeforge process --until-drained`` and samples,
every 0.2 s, the runner's resident memory (``/proc/<pid>/status`` VmRSS) and how many
trades bronze holds (the table's stored positions). Reports the peak (VmHWM, read just
before the runner exits, and the maximum of the samples) and the throughput of each
tenth of the catch-up, so that a runner slowing down or growing as it goes shows.

    python bench/memory_bench.py [--trades 10000000] [--json out.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe, markdown

from lakeforge.lake import Warehouse

ROOT = Path(__file__).resolve().parents[1]
LIMIT_MB = 500


def lakeforge(*args: str, pipeline: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "lakeforge.cli.main", *args, "--pipeline", str(pipeline)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def status_kib(pid: int, field: str) -> int | None:
    """A ``/proc/<pid>/status`` memory field in KiB; None once the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def committed(warehouse_root: Path) -> int:
    if not (warehouse_root / "catalog.db").exists():
        return 0
    with Warehouse(warehouse_root) as warehouse:
        if "bronze.trades" not in {info.name for info in warehouse.list_tables()}:
            return 0
        return sum(warehouse.open_table("bronze.trades").positions().values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=10_000_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lakeforge-memory-") as tmp:
        pipeline = Path(tmp) / "stocks"
        shutil.copytree(
            ROOT / "examples" / "stocks", pipeline, ignore=shutil.ignore_patterns(".lakeforge")
        )
        began = time.monotonic()
        producer = lakeforge(
            "produce", "--count", str(args.trades), "--rate", "0", "--quiet", pipeline=pipeline
        )
        out, _ = producer.communicate()
        if producer.returncode != 0:
            raise SystemExit(f"produce failed: {out.decode()}")
        produce_s = time.monotonic() - began
        log_bytes = (pipeline / ".lakeforge" / "log.db").stat().st_size
        print(
            f"{args.trades:,} trades waiting in the log ({log_bytes / 1e9:.2f} GB), "
            f"produced in {produce_s:.0f}s",
            flush=True,
        )

        runner = lakeforge(
            "process", "--until-drained", "--quiet", "--metrics-port", "off", pipeline=pipeline
        )
        started = time.monotonic()
        samples: list[tuple[float, int, int]] = []  # seconds, RSS KiB, trades committed
        peak_hwm = 0
        warehouse_root = pipeline / ".lakeforge" / "warehouse"
        next_count = started
        done = 0
        while runner.poll() is None:
            rss = status_kib(runner.pid, "VmRSS")
            hwm = status_kib(runner.pid, "VmHWM")
            if hwm:
                peak_hwm = max(peak_hwm, hwm)
            now = time.monotonic()
            if now >= next_count:  # reading positions costs; every second is enough
                done = committed(warehouse_root)
                next_count = now + 1.0
            if rss:
                samples.append((now - started, rss, done))
            time.sleep(0.2)
        out, _ = runner.communicate()
        total_s = time.monotonic() - started
        if runner.returncode != 0:
            raise SystemExit(f"process failed: {out.decode()}")
        final = committed(warehouse_root)
        verify = subprocess.run(
            [
                sys.executable,
                "-m",
                "lakeforge.cli.main",
                "verify",
                "--json",
                "--pipeline",
                str(pipeline),
            ],
            capture_output=True,
            text=True,
        )
        verified = verify.returncode == 0 and json.loads(verify.stdout)["ok"]

    # When bronze held each tenth of the trades; the first tenth includes start-up.
    tenths = [
        next((t for t, _, n in samples if n >= args.trades * k // 10), total_s)
        for k in range(1, 11)
    ]
    rates = [
        (args.trades / 10) / (later - earlier) if later > earlier else None
        for earlier, later in itertools.pairwise(tenths)
    ]
    peak_mb = max(peak_hwm, max((r for _, r, _ in samples), default=0)) / 1024
    result = {
        "machine": describe(),
        "trades": args.trades,
        "log_gb": round(log_bytes / 1e9, 2),
        "committed": final,
        "verified": verified,
        "catch_up_s": round(total_s, 1),
        "trades_per_s": round(args.trades / total_s),
        "peak_rss_mb": round(peak_mb),
        "rss_mb_by_tenth": [
            round(max((r for t, r, _ in samples if t <= reached), default=0) / 1024)
            for reached in tenths
        ],
        "trades_per_s_by_tenth_2_to_10": [round(r) if r else None for r in rates],
        "limit_mb": LIMIT_MB,
    }
    print(markdown(result["machine"]))
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    if not verified or final != args.trades or peak_mb > LIMIT_MB:
        raise SystemExit(f"failed: verified={verified}, committed={final:,}, peak {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
