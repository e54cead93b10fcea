"""Kafka (cluster profile) with 1, 2 and 3 runners against the embedded log (local profile).

Measures, in one run on one machine (compare the ratios, the machine is shared):

1. produce: ``lakeforge produce --count N --rate 0`` into the embedded log, and into a
   4-partition Kafka topic; trades/s as the producer reports it (its own clock, which
   leaves out imports and connecting; every record acknowledged), and the command's
   wall time;
2. process: with the log already full, K ``lakeforge process`` runners (K = 1 on the
   embedded log, which allows one; K = 1, 2, 3 on Kafka, sharing the partitions
   through a consumer group) catch up into bronze (Iceberg + Delta). Timed from the
   runners' launch to the Iceberg commit (the second of the two formats) that brings
   the table's stored positions to N, read from the snapshot's own timestamp; also
   from the first commit to that last one, which leaves out start-up (imports,
   joining the group);
3. CPU seconds used meanwhile by the runners and by the broker (from /proc), to tell
   where the time goes on a small machine.

Each configuration starts from a fresh copy of examples/stocks (and, on Kafka, a topic
and consumer group of its own), and ends with ``lakeforge verify`` (not timed in the
rates). The script starts a Kafka broker (``tests/kafka_broker.py``: KRaft, one node on
127.0.0.1, jars from Maven) and a schema registry, and stops both at the end.

    python bench/kafka_bench.py [--trades 1000000] [--runners 1,2,3] [--repeat 1]
        [--tuned-setting fetch.queue.backoff.ms=10]

``--tuned-setting`` measures every Kafka runner count a second time with extra librdkafka
properties (the profile's ``kafka.settings``). Run-to-run noise on a shared machine is
large: ``--repeat`` runs every configuration again, in rounds, and reports medians.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for the broker
from machine import describe, markdown

from lakeforge.errors import NotFoundError
from lakeforge.lake import LakeTable, Warehouse
from lakeforge.registry import EmbeddedRegistry, RegistryServer
from lakeforge.spec.load import load_pipeline
from tests.kafka.cluster import make_cluster_pipeline
from tests.kafka_broker import KafkaBroker

ROOT = Path(__file__).resolve().parents[1]
BRONZE = "bronze.trades"
#: How often the table is read while runners work (each read refreshes Iceberg's
#: metadata; the timing comes from the snapshots, so this only bounds the detection).
POLL_S = 0.2
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Config:
    bus: str  # "embedded" or "kafka"
    runners: int
    #: Extra librdkafka properties for every client (the profile's ``kafka.settings``).
    settings: tuple[tuple[str, str], ...] = ()

    @property
    def label(self) -> str:
        runners = f"{self.runners} runner{'s' if self.runners > 1 else ''}"
        label = f"{'embedded log' if self.bus == 'embedded' else 'Kafka'}, {runners}"
        return label + "".join(f", {key}={value}" for key, value in self.settings)

    @property
    def profile(self) -> str:
        return "local" if self.bus == "embedded" else "cluster"


@dataclass
class Result:
    config: Config
    trades: int
    produce_per_s: float = 0.0  # as the producer reports it
    produce_wall_s: float = 0.0  # the whole command, start-up included
    produce_cpu_s: float = 0.0  # the producer process
    produce_broker_cpu_s: float = 0.0
    first_commit_s: float = 0.0  # launch -> first bronze commit
    process_s: float = 0.0  # launch -> last commit
    steady_s: float = 0.0  # first commit -> last commit
    steady_rows: int = 0  # rows committed after the first commit
    runner_cpu_s: float = 0.0  # all runners, launch -> last commit
    broker_cpu_s: float = 0.0  # broker, launch -> last commit
    shares: list[int] = field(default_factory=list)  # rows each runner says it committed
    bronze_commits: int = 0
    verified: bool = False
    verify_s: float = 0.0
    load_1m: float = field(default_factory=lambda: os.getloadavg()[0])  # at the start

    @property
    def process_per_s(self) -> float:
        return self.trades / self.process_s

    @property
    def cores_busy(self) -> float:
        """Runners' and broker's CPU seconds per second, launch -> last commit."""
        return (self.runner_cpu_s + self.broker_cpu_s) / self.process_s

    @property
    def steady_per_s(self) -> float:
        return self.steady_rows / self.steady_s if self.steady_s > 0 else float("nan")

    def as_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "config"}
        data.update(
            bus=self.config.bus,
            runners=self.config.runners,
            settings=dict(self.config.settings),
            cores_busy=self.cores_busy,
            process_per_s=self.process_per_s,
            steady_per_s=self.steady_per_s,
        )
        return data


def lakeforge_command(folder: Path, profile: str, *args: str) -> list[str]:
    return [
        sys.executable, "-m", "lakeforge.cli.main", *args,
        "--profile", profile, "--pipeline", str(folder),
    ]  # fmt: skip


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds of a running process (0 if it is gone)."""
    if pid is None:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the command name: state is field 3, utime 14 and stime 15 (1-based).
    return (int(fields[11]) + int(fields[12])) / TICKS


def fresh_copy(work: Path, name: str) -> Path:
    target = work / name
    shutil.copytree(
        ROOT / "examples" / "stocks",
        target,
        ignore=shutil.ignore_patterns(".lakeforge", "profiles"),
    )
    return target


def produce(folder: Path, profile: str, trades: int, broker: KafkaBroker, result: Result) -> None:
    command = lakeforge_command(
        folder, profile, "produce", "--count", str(trades), "--rate", "0", "--quiet"
    )
    before = os.times()
    broker_before = cpu_seconds(broker.pid)
    began = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    result.produce_wall_s = time.monotonic() - began
    result.produce_broker_cpu_s = cpu_seconds(broker.pid) - broker_before
    after = os.times()
    result.produce_cpu_s = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    if done.returncode != 0:
        raise RuntimeError(f"produce failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    # "produced 1,000,000 records to 'trades' in 1.1s (905,123/s)"
    found = re.search(r"produced ([\d,]+) records .* \(([\d,]+)/s\)", done.stdout)
    if found is None:
        raise RuntimeError(f"unexpected produce output: {done.stdout!r}")
    records = int(found.group(1).replace(",", ""))
    if records != trades:
        raise RuntimeError(f"produced {records} records, not {trades}")
    result.produce_per_s = float(found.group(2).replace(",", ""))


class Runner:
    """One ``lakeforge process`` in the background, its output read by threads."""

    def __init__(self, command: list[str]) -> None:
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(stream, lines), daemon=True)
            for stream, lines in ((self.process.stdout, self.stdout),
                                  (self.process.stderr, self.stderr))
        ]  # fmt: skip
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: Any, lines: list[str]) -> None:
        for line in stream:
            lines.append(line.rstrip("\n"))

    def stop(self) -> int:
        """SIGINT (a clean stop after the current commit); return the rows it committed."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for reader in self._readers:
            reader.join(timeout=10)
        if self.process.returncode != 0:
            raise RuntimeError(f"a runner exited with {self.process.returncode}:\n{self.output}")
        # "committed 7 batches: 350,000 rows to bronze, 0 dead letters in 5.2s (...)"
        for line in self.stdout:
            if found := re.search(r"committed \d+ batches: ([\d,]+) rows to bronze", line):
                return int(found.group(1).replace(",", ""))
        raise RuntimeError(f"no final line from a runner:\n{self.output}")

    @property
    def output(self) -> str:
        return "\n".join(self.stderr[-30:] + self.stdout[-5:])


def open_bronze(warehouse: Warehouse) -> LakeTable | None:
    try:
        return warehouse.open_table(BRONZE)
    except NotFoundError:
        return None


def process(folder: Path, config: Config, trades: int, broker: KafkaBroker, result: Result) -> None:
    """Start the runners on a full log; time them until bronze holds every trade."""
    environ = {"LAKEFORGE__PROFILE": config.profile}
    warehouse = Warehouse(load_pipeline(folder, environ).state_path / "warehouse")
    command = lakeforge_command(folder, config.profile, "process")
    broker_before = cpu_seconds(broker.pid)
    launched = time.time()
    runners = [Runner(command) for _ in range(config.runners)]
    table: LakeTable | None = None
    first: tuple[float, int] | None = None  # (commit time, rows) of the first commit seen
    deadline = time.monotonic() + 900
    try:
        while True:
            time.sleep(POLL_S)
            if time.monotonic() > deadline:
                raise RuntimeError("the runners did not commit every trade within 900 s")
            for runner in runners:
                if runner.process.poll() is not None:
                    raise RuntimeError(f"a runner ended early:\n{runner.output}")
            table = table or open_bronze(warehouse)
            if table is None:
                continue
            stats = table.stats()
            if stats.last_commit_time is None:
                continue
            committed = stats.last_commit_time.timestamp()
            if first is None:
                first = (committed, stats.rows)
            if sum(stats.positions.values()) >= trades:
                result.runner_cpu_s = sum(cpu_seconds(r.process.pid) for r in runners)
                result.broker_cpu_s = cpu_seconds(broker.pid) - broker_before
                result.process_s = committed - launched
                result.first_commit_s = first[0] - launched
                result.steady_s = committed - first[0]
                result.steady_rows = stats.rows - first[1]
                result.bronze_commits = stats.sequence
                if stats.rows != trades:
                    raise RuntimeError(f"bronze holds {stats.rows} rows, not {trades}")
                break
    finally:
        shares = []
        for runner in runners:
            try:
                shares.append(runner.stop())
            except RuntimeError as error:
                print(f"warning: {error}", file=sys.stderr)
        result.shares = shares
        warehouse.close()


def verify(folder: Path, profile: str, result: Result) -> None:
    began = time.monotonic()
    done = subprocess.run(
        lakeforge_command(folder, profile, "verify", "--json"),
        capture_output=True,
        text=True,
        check=False,
    )
    result.verify_s = time.monotonic() - began
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        report = {}
    result.verified = done.returncode == 0 and bool(report.get("ok"))
    if not result.verified:
        print(f"verify FAILED for {folder}:\n{done.stdout}\n{done.stderr}", file=sys.stderr)


def cluster_profile(
    folder: Path, broker: KafkaBroker, registry_url: str, settings: tuple[tuple[str, str], ...]
) -> None:
    """Give the copy a topic and consumer group of its own, and the extra settings."""
    make_cluster_pipeline(folder, broker.bootstrap, registry_url)
    if settings:
        path = folder / "profiles" / "cluster.yaml"
        profile = yaml.safe_load(path.read_text())
        profile["kafka"]["settings"] = dict(settings)
        path.write_text(yaml.safe_dump(profile))


def warm_up(work: Path, broker: KafkaBroker, registry_url: str) -> None:
    """Produce and process a few trades through Kafka before measuring anything.

    A fresh broker loads its coordinators and compiles its hot paths on first use; the
    first configuration measured would otherwise pay for it.
    """
    folder = fresh_copy(work, "warm-up")
    cluster_profile(folder, broker, registry_url, ())
    for args in (("produce", "--count", "200000", "--rate", "0"), ("process", "--until-drained")):
        subprocess.run(
            lakeforge_command(folder, "cluster", *args, "--quiet"),
            capture_output=True,
            check=True,
            timeout=300,
        )
    shutil.rmtree(folder, ignore_errors=True)


def run_config(
    work: Path,
    index: int,
    config: Config,
    trades: int,
    broker: KafkaBroker,
    registry_url: str,
) -> Result:
    folder = fresh_copy(work, f"{index}-{config.bus}-{config.runners}")
    if config.bus == "kafka":
        cluster_profile(folder, broker, registry_url, config.settings)
    result = Result(config, trades)
    try:
        produce(folder, config.profile, trades, broker, result)
        process(folder, config, trades, broker, result)
        verify(folder, config.profile, result)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(
        f"{config.label}: produce {result.produce_per_s:,.0f}/s, process "
        f"{result.process_per_s:,.0f}/s from launch, {result.steady_per_s:,.0f}/s "
        f"after the first commit, verify {'ok' if result.verified else 'FAILED'}",
        file=sys.stderr,
        flush=True,
    )
    return result


def median(results: list[Result], key: str) -> float:
    values = [getattr(r, key) for r in results]
    return float(statistics.median(values))


def table(configs: list[Config], by_config: dict[str, list[Result]]) -> str:
    base = by_config[configs[0].label]
    base_process = median(base, "process_per_s")
    base_steady = median(base, "steady_per_s")
    base_produce = median(base, "produce_per_s")
    lines = [
        "| configuration | produce N (trades/s) | process: launch -> all N in bronze "
        "(trades/s) | vs embedded | first -> last commit (trades/s) | vs embedded "
        "| start-up to first commit | CPU s: runners / broker | cores busy | verify |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for config in configs:
        results = by_config[config.label]
        produce = median(results, "produce_per_s")
        process = median(results, "process_per_s")
        steady = median(results, "steady_per_s")
        ok = all(r.verified for r in results)
        lines.append(
            f"| {config.label} | {produce:,.0f} ({produce / base_produce:.2f}x) "
            f"| {process:,.0f} | {process / base_process:.2f}x "
            f"| {steady:,.0f} | {steady / base_steady:.2f}x "
            f"| {median(results, 'first_commit_s'):.1f} s "
            f"| {median(results, 'runner_cpu_s'):.1f} / {median(results, 'broker_cpu_s'):.1f} "
            f"| {median(results, 'cores_busy'):.2f} "
            f"| {'passed' if ok else 'FAILED'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=1_000_000)
    parser.add_argument(
        "--runners", default="1,2,3", help="Runner counts on Kafka, comma-separated."
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="Rounds over every configuration; medians."
    )
    parser.add_argument(
        "--tuned-setting",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="Also measure every Kafka runner count with this librdkafka property "
        "(repeatable; e.g. fetch.queue.backoff.ms=10).",
    )
    parser.add_argument("--json", type=Path, help="Also write the results here.")
    args = parser.parse_args()
    counts = [int(k) for k in args.runners.split(",")]
    configs = [Config("embedded", 1)] + [Config("kafka", k) for k in counts]
    if args.tuned_setting:
        tuned = tuple((k, v) for k, _, v in (s.partition("=") for s in args.tuned_setting))
        configs += [Config("kafka", k, tuned) for k in counts]
    machine = describe()
    load_at_start = os.getloadavg()
    results: list[Result] = []
    started = time.monotonic()
    broker = KafkaBroker()
    registry = EmbeddedRegistry(":memory:")
    server = RegistryServer(registry)
    try:
        broker.start()
        server.start()
        with tempfile.TemporaryDirectory(prefix="lakeforge-kafka-bench-") as tmp:
            warm_up(Path(tmp), broker, server.url)
            index = 0
            for _ in range(args.repeat):
                # Rounds, not one configuration repeated: drift in the machine's load
                # then spreads over every configuration alike.
                for config in configs:
                    index += 1
                    results.append(
                        run_config(Path(tmp), index, config, args.trades, broker, server.url)
                    )
    finally:
        server.stop()
        registry.close()
        broker.stop()
    by_config = {c.label: [r for r in results if r.config == c] for c in configs}
    summary = {
        "machine": machine,
        "trades": args.trades,
        "repeat": args.repeat,
        "load_average_at_start": load_at_start,
        "load_average_at_end": os.getloadavg(),
        "seconds": time.monotonic() - started,
        "results": [r.as_dict() for r in results],
    }
    print(json.dumps(summary, indent=2))
    print()
    print(markdown(machine))
    print(
        f"Load average at start {load_at_start[0]:.2f}, at end {os.getloadavg()[0]:.2f}; "
        f"{args.trades:,} trades per configuration, {args.repeat} round(s) (medians)."
    )
    print()
    print(table(configs, by_config))
    print()
    for config in configs[1:]:
        if config.runners == 1:
            continue
        shares = [
            ", ".join(f"{s:,}" for s in r.shares) + f" (sum {sum(r.shares) / r.trades:.2f} N)"
            for r in by_config[config.label]
        ]
        print(f"rows each runner committed, {config.label}: {' | '.join(shares)}")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
