"""End-to-end benchmark of the local profile: producer, log, runner, both bronze tables.

Measures, in one run on one machine (compare the ratios, the machine is shared):

1. producer alone: trades/s generated, encoded and appended to the log;
2. runner alone: trades/s caught up from a full log into Iceberg + Delta;
3. end to end: producer and runner as separate processes at full speed, trades/s
   from the first trade appended to the log to the last one committed in both formats
   (process start-up, mostly imports, is left out);
4. freshness at a fixed rate (default 100k trades/s): seconds from a trade's event
   time to its batch being committed in both formats, p50 and p99.

Every phase starts from a fresh copy of examples/stocks and ends with `verify`.

    python bench/end_to_end.py [--trades 2000000] [--freshness-seconds 30]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe, markdown

# The lakeforge command's Arrow memory pool for the runner run here; it must come before
# anything loads pyarrow.
import lakeforge.cli.main  # noqa: F401
from lakeforge.profiles import open_local
from lakeforge.source.producer import Producer
from lakeforge.spec.checks import check_pipeline
from lakeforge.spec.load import load_pipeline
from lakeforge.stream.runner import RunnerStats, StreamRunner
from lakeforge.verify import verify_pipeline

ROOT = Path(__file__).resolve().parents[1]


def fresh(workdir: Path, name: str) -> Path:
    target = workdir / name
    shutil.copytree(
        ROOT / "examples" / "stocks", target, ignore=shutil.ignore_patterns(".lakeforge")
    )
    return target


def load(folder: Path):  # type: ignore[no-untyped-def]
    pipeline = load_pipeline(folder)
    check_pipeline(pipeline)
    return pipeline


def verified(folder: Path, expected: int) -> bool:
    pipeline = load(folder)
    with open_local(pipeline) as profile:
        checks = verify_pipeline(pipeline, profile)
        rows = profile.warehouse.open_table("bronze.trades").stats().rows
    return all(c.ok for c in checks) and rows == expected


def producer_alone(folder: Path, trades: int) -> float:
    pipeline = load(folder)
    with open_local(pipeline) as profile:
        stats = Producer(pipeline, profile).run(count=trades, rate=0)
    return stats.records / stats.seconds


def runner_alone(folder: Path, trades: int) -> float:
    pipeline = load(folder)
    with open_local(pipeline) as profile:
        stats = StreamRunner(pipeline, profile).run(until_drained=True)
    assert stats.bronze_rows == trades, stats
    return stats.messages / stats.seconds


def produce_process(folder: Path, trades: int, rate: float) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "lakeforge.cli.main", "produce", "--quiet"]
    command += ["--pipeline", str(folder), "--count", str(trades), "--rate", str(rate)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL)


def streamed(folder: Path, trades: int, rate: float) -> tuple[float, np.ndarray, list[float]]:
    """Run producer (a process) and runner (here) together until all trades are in."""
    pipeline = load(folder)
    samples: list[np.ndarray] = []
    commits: list[float] = []
    stop = threading.Event()
    with open_local(pipeline) as profile:
        runner = StreamRunner(pipeline, profile)

        def on_batch(stats: RunnerStats) -> None:
            if stats.last_batch is not None:
                samples.append(stats.last_batch.freshness_sample)
                commits.append(stats.last_batch.commit_seconds)
            if stats.bronze_rows >= trades:
                stop.set()

        producer = produce_process(folder, trades, rate)
        runner.run(stop=stop, on_batch=on_batch)
        finished = time.time()
        producer.wait()
        # From the first trade appended to the log (its append time), so that neither
        # process's start-up counts, to the last trade committed in both formats.
        firsts = [
            profile.bus.fetch("trades", p, 0, 1).records["timestamp"][0].value
            for p, end in profile.bus.end_offsets("trades").items()
            if end
        ]
        elapsed = finished - min(firsts) / 1000
    return trades / elapsed, np.concatenate(samples), commits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=2_000_000)
    parser.add_argument("--freshness-rate", type=float, default=100_000)
    parser.add_argument("--freshness-seconds", type=float, default=30)
    parser.add_argument("--json", type=Path, help="Also write the results here.")
    args = parser.parse_args()
    results: dict[str, object] = {"machine": describe(), "trades": args.trades}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        alone = fresh(work, "alone")
        results["producer_alone_per_s"] = producer_alone(alone, args.trades)
        results["runner_alone_per_s"] = runner_alone(alone, args.trades)
        results["alone_verified"] = verified(alone, args.trades)
        shutil.rmtree(alone)

        together = fresh(work, "together")
        rate, _, commits = streamed(together, args.trades, 0)
        results["end_to_end_per_s"] = rate
        results["end_to_end_commit_s_p50"] = float(np.percentile(commits, 50))
        results["end_to_end_verified"] = verified(together, args.trades)
        shutil.rmtree(together)

        steady = fresh(work, "freshness")
        count = int(args.freshness_rate * args.freshness_seconds)
        _, freshness, commits = streamed(steady, count, args.freshness_rate)
        results["freshness_rate_per_s"] = args.freshness_rate
        results["freshness_p50_s"] = float(np.percentile(freshness, 50))
        results["freshness_p99_s"] = float(np.percentile(freshness, 99))
        results["freshness_commit_s_p50"] = float(np.percentile(commits, 50))
        results["freshness_verified"] = verified(steady, count)
    print(json.dumps(results, indent=2))
    print()
    print(markdown(results["machine"]))  # type: ignore[arg-type]
    print()
    print("| measure | value |\n|---|---|")
    for key in (
        "producer_alone_per_s", "runner_alone_per_s", "end_to_end_per_s",
        "freshness_p50_s", "freshness_p99_s",
    ):  # fmt: skip
        value = results[key]
        shown = f"{value:,.0f} trades/s" if key.endswith("per_s") else f"{value:.3f} s"
        print(f"| {key} | {shown} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
