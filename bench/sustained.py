"""Sustained end-to-end run of the local profile: producer and runner together for minutes.

The producer (a process of its own) appends at ``--rate`` (0: as fast as it can) for
``--seconds``; the runner (here) commits to both bronze formats meanwhile. Every
``--window`` seconds it samples trades appended, trades committed, the lag between them
and the runner's resident memory. A rate is *sustained* when the lag stays bounded: if
it grows window after window, the runner is not keeping up and its own rate is the
figure. At the end the producer stops, the runner drains and ``verify`` must pass.

    python bench/sustained.py [--seconds 300] [--rate 0] [--window 30]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from end_to_end import fresh, load, produce_process, verified
from machine import describe, markdown

from lakeforge.profiles import open_local
from lakeforge.stream.runner import RunnerStats, StreamRunner

PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Window:
    """What one window of the run did."""

    ends_at_s: float
    appended_per_s: float
    committed_per_s: float
    lag_at_end: int
    rss_mb: float
    commit_p50_ms: float
    commit_p99_ms: float


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE / 2**20


def run(seconds: float, rate: float, window: float) -> tuple[list[Window], dict[str, float]]:
    with tempfile.TemporaryDirectory(prefix="lakeforge-sustained-") as workdir:
        folder = fresh(Path(workdir), "stocks")
        pipeline = load(folder)
        windows: list[Window] = []
        stop = threading.Event()
        with open_local(pipeline) as profile:
            runner = StreamRunner(pipeline, profile)
            commits: list[float] = []
            began = time.monotonic()
            last = {"at": began, "appended": 0, "committed": 0}
            producing = {"on": True, "total": 0}

            def appended() -> int:
                return sum(profile.bus.end_offsets("trades").values())

            def on_batch(stats: RunnerStats) -> None:
                if stats.last_batch is not None:
                    commits.append(stats.last_batch.commit_seconds)
                now = time.monotonic()
                if now - last["at"] >= window and producing["on"]:
                    total = appended()
                    span = now - last["at"]
                    ms = np.array(commits or [0.0]) * 1000
                    windows.append(
                        Window(
                            ends_at_s=round(now - began, 1),
                            appended_per_s=(total - last["appended"]) / span,
                            committed_per_s=(stats.bronze_rows - last["committed"]) / span,
                            lag_at_end=total - stats.bronze_rows,
                            rss_mb=rss_mb(),
                            commit_p50_ms=float(np.percentile(ms, 50)),
                            commit_p99_ms=float(np.percentile(ms, 99)),
                        )
                    )
                    print(windows[-1], flush=True)
                    commits.clear()
                    last.update(at=now, appended=total, committed=stats.bronze_rows)
                if not producing["on"] and stats.bronze_rows >= producing["total"]:
                    stop.set()

            producer = produce_process(folder, 10**12, rate)

            def stop_producing() -> None:
                producer.send_signal(signal.SIGINT)
                producer.wait()
                producing["total"] = appended()
                producing["on"] = False

            timer = threading.Timer(seconds, stop_producing)
            timer.start()
            try:
                stats = runner.run(stop=stop, on_batch=on_batch)
            finally:
                timer.cancel()
                if producer.poll() is None:
                    producer.kill()
            total = producing["total"]
            drained_after = time.monotonic() - began - seconds
        # Before verify: it loads both tables whole into DuckDB, which is not the runner.
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        ok = verified(folder, total)
        summary = {
            "trades": total,
            "seconds": seconds,
            "committed_per_s_while_producing": float(
                np.mean([w.committed_per_s for w in windows]) if windows else 0.0
            ),
            "drain_seconds_after_producer_stopped": round(drained_after, 1),
            "end_to_end_per_s": total / (seconds + drained_after),
            "runner_peak_rss_mb": peak_mb,
            "batches": stats.batches,
            "verify": float(ok),
        }
        return windows, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--rate", type=float, default=0, help="producer trades/s; 0: all out")
    parser.add_argument("--window", type=float, default=30)
    parser.add_argument("--json", type=Path, help="Also write the results here.")
    args = parser.parse_args()
    windows, summary = run(args.seconds, args.rate, args.window)
    print(markdown(describe()))
    print(f"\nproducer rate: {args.rate or 'all out'}, {args.seconds:.0f} s\n")
    print(
        "| window end (s) | appended/s | committed/s | lag at end | runner RSS (MB) "
        "| commit p50 / p99 (ms) |"
    )
    print("|---|---|---|---|---|---|")
    for w in windows:
        print(
            f"| {w.ends_at_s:.0f} | {w.appended_per_s:,.0f} | {w.committed_per_s:,.0f} "
            f"| {w.lag_at_end:,} | {w.rss_mb:.0f} | {w.commit_p50_ms:.0f} / {w.commit_p99_ms:.0f} |"
        )
    print("\n" + json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(
            json.dumps({"windows": [asdict(w) for w in windows], "summary": summary}, indent=2)
        )
    if not summary["verify"]:
        sys.exit("verify failed")


if __name__ == "__main__":
    main()
