"""Sustained end-to-end run of the local profile: producer and runner together for minutes.

The producer and the runner run as they do in production: ``lakeforge produce`` at
``--rate`` (0: as fast as it can) for ``--seconds``, and ``lakeforge process``
committing to both bronze formats meanwhile, each its own process. This bench only
watches them:

- every 0.1 s, the runner's resident memory (``/proc/<pid>/status``), so that a short
  peak shows with the moment it came;
- every ``--window`` seconds, trades appended and committed (the processes' own
  metrics), the lag between them, the runner's peak memory and mean commit time in the
  window. A rate is *sustained* when the lag stays bounded: if it grows window after
  window, the runner is not keeping up and its own rate is the figure.

At the end the producer stops, the runner drains and stops, and ``verify`` must pass.

    python bench/sustained.py [--seconds 300] [--rate 0] [--window 30]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from end_to_end import fresh, load, produce_process, verified
from machine import describe, markdown
from memory_bench import status_kib

from lakeforge.observe.endpoints import live_endpoints
from lakeforge.profiles import open_local
from lakeforge.spec.model import Pipeline


@dataclass
class Window:
    """What one window of the run did."""

    ends_at_s: float
    appended_per_s: float
    committed_per_s: float
    lag_at_end: int
    runner_peak_rss_mb: float
    commit_mean_ms: float
    #: CPU seconds per second of the window (1.0 = one core busy), from /proc/<pid>/stat.
    runner_cores: float
    producer_cores: float


class MemoryWatch:
    """Samples a process's resident memory every 0.1 s in a thread of its own."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.began = time.monotonic()
        self.peak_kib = 0
        self.peak_at_s = 0.0
        #: /proc/<pid>/status at the peak: anonymous memory, mapped files, shared memory.
        self.peak_parts_kib: dict[str, int | None] = {}
        self.window_peak_kib = 0
        self.high_water_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            rss = status_kib(self.pid, "VmRSS")
            hwm = status_kib(self.pid, "VmHWM")
            if rss is None or hwm is None:
                return
            self.high_water_kib = max(self.high_water_kib, hwm)
            self.window_peak_kib = max(self.window_peak_kib, rss)
            if rss > self.peak_kib:
                self.peak_kib, self.peak_at_s = rss, time.monotonic() - self.began
                parts = ("RssAnon", "RssFile", "RssShmem")
                self.peak_parts_kib = {part: status_kib(self.pid, part) for part in parts}

    def take_window_peak_mb(self) -> float:
        """The highest sample since the last call, in MB."""
        peak, self.window_peak_kib = self.window_peak_kib, 0
        return peak / 1024

    def stop(self) -> None:
        """Stop sampling (read the high-water mark first: the process may be gone)."""
        self._stop.set()
        self._thread.join()


def cpu_seconds(pid: int) -> float:
    """User and system CPU a process has used so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    # after the command name: utime and stime are fields 14 and 15 of stat(5)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def scrape(url: str) -> dict[str, float]:
    """The sample lines of a Prometheus text exposition, by name and labels."""
    values = {}
    for line in httpx.get(url, timeout=10).text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def runner_url(pipeline: Pipeline, runner: subprocess.Popen[bytes]) -> str:
    """The runner's metrics URL, once it serves them."""
    while True:
        for endpoint in live_endpoints(pipeline):
            if endpoint.role == "runner" and endpoint.pid == runner.pid:
                return endpoint.url
        if runner.poll() is not None:
            raise SystemExit(f"the runner exited with {runner.returncode} on start")
        time.sleep(0.1)


def appended(pipeline: Pipeline) -> int:
    """Trades on the log, read from the log itself."""
    with open_local(pipeline) as profile:
        return sum(profile.bus.end_offsets("trades").values())


def run(seconds: float, rate: float, window: float) -> tuple[list[Window], dict[str, float]]:
    with tempfile.TemporaryDirectory(prefix="lakeforge-sustained-") as workdir:
        folder = fresh(Path(workdir), "stocks")
        pipeline = load(folder)
        name = pipeline.name
        command = [sys.executable, "-m", "lakeforge.cli.main", "process", "--quiet"]
        runner = subprocess.Popen([*command, "--pipeline", str(folder), "--metrics-port", "0"])
        producer: subprocess.Popen[bytes] | None = None
        try:
            url = runner_url(pipeline, runner)
            memory = MemoryWatch(runner.pid)
            bronze = f'lakeforge_records_total{{pipeline="{name}",stage="bronze"}}'
            labels = f'{{pipeline="{name}",table="bronze.trades"}}'
            commit_sum = f"lakeforge_commit_duration_seconds_sum{labels}"
            commit_count = f"lakeforge_commit_duration_seconds_count{labels}"

            def committed() -> tuple[float, float, float]:
                metrics = scrape(url)
                return (
                    metrics.get(bronze, 0.0),
                    metrics.get(commit_sum, 0.0),
                    metrics.get(commit_count, 0.0),
                )

            producer = produce_process(folder, 10**12, rate)
            began = time.monotonic()
            windows: list[Window] = []
            last = (began, 0, *committed())
            cpu = (cpu_seconds(runner.pid), cpu_seconds(producer.pid))
            while (now := time.monotonic()) < began + seconds:
                time.sleep(min(window, began + seconds - now))
                now, total, (rows, commit_s, commits) = (
                    time.monotonic(),
                    appended(pipeline),
                    committed(),
                )
                span = now - last[0]
                cpu_now = (cpu_seconds(runner.pid), cpu_seconds(producer.pid))
                windows.append(
                    Window(
                        ends_at_s=round(now - began, 1),
                        appended_per_s=(total - last[1]) / span,
                        committed_per_s=(rows - last[2]) / span,
                        lag_at_end=int(total - rows),
                        runner_peak_rss_mb=memory.take_window_peak_mb(),
                        commit_mean_ms=1000 * (commit_s - last[3]) / max(commits - last[4], 1),
                        runner_cores=(cpu_now[0] - cpu[0]) / span,
                        producer_cores=(cpu_now[1] - cpu[1]) / span,
                    )
                )
                cpu = cpu_now
                print(windows[-1], flush=True)
                last = (now, total, rows, commit_s, commits)
            producer.send_signal(signal.SIGINT)
            producer.wait()
            total = appended(pipeline)
            while committed()[0] < total:
                time.sleep(0.2)
            drained_after = time.monotonic() - began - seconds
            peak_mb = memory.high_water_kib / 1024  # VmHWM: every page, not just samples
            runner.send_signal(signal.SIGINT)
            runner.wait(timeout=120)
            memory.stop()
        finally:
            for process in (runner, producer):
                if process is not None and process.poll() is None:
                    process.kill()
        ok = verified(folder, total)
        summary = {
            "trades": total,
            "seconds": seconds,
            "committed_per_s_while_producing": sum(w.committed_per_s for w in windows)
            / max(len(windows), 1),
            "drain_seconds_after_producer_stopped": round(drained_after, 1),
            "end_to_end_per_s": total / (seconds + drained_after),
            "runner_peak_rss_mb": round(peak_mb),
            "runner_peak_sampled_mb": round(memory.peak_kib / 1024),
            "runner_peak_sampled_at_s": round(memory.peak_at_s, 1),
            **{
                f"runner_peak_{part}_mb": round(kib / 1024)
                for part, kib in memory.peak_parts_kib.items()
                if kib is not None
            },
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
        "| window end (s) | appended/s | committed/s | lag at end | runner peak RSS (MB) "
        "| mean commit (ms) | runner cores | producer cores |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for w in windows:
        print(
            f"| {w.ends_at_s:.0f} | {w.appended_per_s:,.0f} | {w.committed_per_s:,.0f} "
            f"| {w.lag_at_end:,} | {w.runner_peak_rss_mb:.0f} | {w.commit_mean_ms:.0f} "
            f"| {w.runner_cores:.2f} | {w.producer_cores:.2f} |"
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
