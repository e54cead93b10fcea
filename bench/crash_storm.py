"""Crash storm: SIGKILL the runner, the producer and transforms while trades stream.

Streams ``--trades`` synthetic trades into a fresh copy of examples/stocks (local
profile) through the real commands, each in its own process, and meanwhile:

* kills the stream runner (``lakeforge process``) with SIGKILL ``--kills`` times, each
  time at a random moment (``--kill-delay``, seeded) after the restarted runner made its
  first commit, and restarts it at once. Recovery time is from the restart to the new
  runner's first commit (seen on its metrics endpoint, advertised in
  ``.lakeforge/run/runner.json``);
* kills the producer (``lakeforge produce --count N``) ``--producer-kills`` times, at
  random points of the stream, and restarts it for the remaining count: it resumes its
  trade id sequence from the log;
* kills a transform (``lakeforge transform``) ``--transform-kills`` times, at random
  points of the stream, each at a random moment of its run: once a random number of its
  dbt nodes (none to all) finished, plus up to 0.5 s. Between two killed ones, one runs
  to completion, so that later kills interrupt incremental builds and publishes.

Every kill is recorded with what it interrupted: how many trades were on the log but not
committed, whether it left an orphan data file (killed between the Parquet write and the
Delta commit) or Iceberg behind Delta (killed between the two commits).

Then: the last runner is stopped with Ctrl-C once everything is produced, ``lakeforge
process --until-drained`` runs, ``lakeforge verify --json`` must pass (0 lost, 0
duplicated, Iceberg = Delta), bronze must hold exactly ``--trades`` trades with distinct
trade ids in both formats, ``lakeforge transform`` must succeed, and silver and gold must
hold no duplicate (silver: trade_id; gold: (symbol, bar_minute) and (symbol, trade_date))
and account for every trade. Prints and writes a JSON summary; exits 1 on any failure.

    python bench/crash_storm.py [--trades 2000000] [--kills 50] [--producer-kills 3]
        [--transform-kills 3] [--seed 1] [--json bench/results/crash_storm.json]

The producer is paced so that the stream lasts about as long as the kills take (its rate
is recomputed at each of its restarts from the runner cycles measured so far), so every
runner kill lands while trades are still arriving; ``--rate`` fixes it instead.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe, markdown

from lakeforge.bus.embedded import EmbeddedLog
from lakeforge.errors import LakeforgeError
from lakeforge.lake import Warehouse
from lakeforge.lake.delta_log import DeltaLog

ROOT = Path(__file__).resolve().parents[1]
TOPIC = "trades"
BRONZE = "bronze.trades"
#: The metric whose first increase is a new runner's first commit to bronze.
COMMITTED = re.compile(r'^lakeforge_records_total\{[^}]*stage="bronze"[^}]*\}\s+(\S+)', re.M)
#: Set once the runner opened its tables (Iceberg caught up with Delta) and read its
#: positions: it is ready to fetch.
READY = re.compile(r"^lakeforge_lag_records\{", re.M)
#: A line transforms print per dbt node done (model or test).
NODE_LINE = re.compile(r"^\s+\S+\s+(model|test)\s", re.M)
POLL_S = 0.05


@dataclass
class StormConfig:
    """What to stream and what to kill; the defaults are the full storm."""

    trades: int = 2_000_000
    kills: int = 50
    producer_kills: int = 3
    transform_kills: int = 3
    seed: int = 1
    #: Seconds after a restarted runner's first commit before it is killed: uniform in.
    kill_delay: tuple[float, float] = (0.5, 4.0)
    #: Producer trades/s; None: paced so the stream outlasts the runner kills.
    rate: float | None = None
    #: Where to put the pipeline copy; None: a temporary folder.
    workdir: Path | None = None
    #: Keep the pipeline copy afterwards (it is kept anyway when the storm fails).
    keep: bool = False
    #: Longest wait for any one step (a runner's first commit, a command) before failing.
    step_timeout_s: float = 300.0


@dataclass
class RunnerKill:
    """One SIGKILL of the stream runner, and the restart that followed."""

    number: int
    #: Seconds from the killed runner's start to its first commit (-1: none seen).
    recovery_s: float
    #: Seconds from its start to ready (tables opened, positions read; -1: not seen).
    ready_s: float
    #: Seconds the killed runner ran after its first commit (the random delay).
    delay_s: float
    #: Rows the killed runner committed to bronze before it died (its metrics).
    committed_by_runner: int
    #: Trades on the log just before the kill.
    log_end: int
    #: Trades committed to bronze (Delta's stored positions) just after the kill.
    committed: int
    #: Trades on the log that were not committed when the runner died.
    uncommitted: int
    #: The killed runner had committed, and not every trade was committed yet.
    mid_stream: bool
    #: A Parquet file written but not committed: killed inside a commit, before Delta.
    orphan_file: bool
    #: Delta committed, Iceberg not yet: killed inside a commit, between the two formats.
    iceberg_behind: bool


@dataclass
class ProducerKill:
    """One SIGKILL of the producer."""

    number: int
    #: Trades on the log when it was killed (its restart produces the rest).
    log_end: int
    #: The id the restarted producer said it resumed after (its stderr), if it said so.
    resumed_after_id: int | None = None


@dataclass
class TransformKill:
    """One SIGKILL of a transform."""

    number: int
    #: Seconds after the transform took its lock.
    after_s: float
    #: dbt nodes (models, tests) it had finished, of those a complete run prints.
    nodes_done: int
    #: The last dbt node it finished, as it printed it.
    last_line: str


@dataclass
class Storm:
    """The state the three lanes (runner, producer, transform) share."""

    config: StormConfig
    folder: Path
    logs: Path
    say: Callable[[str], None]
    started: float = field(default_factory=time.monotonic)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    children: list[subprocess.Popen[bytes]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    runner_kills: list[RunnerKill] = field(default_factory=list)
    producer_kills: list[ProducerKill] = field(default_factory=list)
    transform_kills: list[TransformKill] = field(default_factory=list)
    transforms_completed: int = 0
    #: Seconds from one runner's start to the next one's (start, first commit, delay, kill).
    cycles: list[float] = field(default_factory=list)
    #: Seconds from each restart to the restarted runner's first commit (None: none seen).
    recoveries: list[float | None] = field(default_factory=list)
    #: Seconds from each restart to the restarted runner being ready to fetch.
    readies: list[float | None] = field(default_factory=list)
    #: dbt nodes a complete transform prints (learnt from the first complete one).
    transform_nodes: int = 0
    #: Seconds the storm itself took (until the last runner kill and restart).
    storm_seconds: float = 0.0
    #: Seconds the last command run to its end took.
    last_seconds: float = 0.0
    producer_done: threading.Event = field(default_factory=threading.Event)
    _counter: int = 0
    _log: EmbeddedLog | None = None

    @property
    def state(self) -> Path:
        return self.folder / ".lakeforge"

    def fail(self, message: str) -> None:
        with self.lock:
            self.failures.append(message)
        self.say(f"FAILURE: {message}")
        self.stop.set()

    # -- processes ------------------------------------------------------------------

    def start(self, role: str, *args: str) -> tuple[subprocess.Popen[bytes], Path]:
        """Start ``lakeforge ARGS``; return it and the file of its stderr.

        Its stdout goes to a file beside, with the same name ending in ``.out``.
        """
        with self.lock:
            self._counter += 1
            log = self.logs / f"{self._counter:03d}-{role}.log"
        command = [sys.executable, "-m", "lakeforge.cli.main", *args]
        command += ["--pipeline", str(self.folder)]
        with log.open("wb") as err, log.with_suffix(".out").open("wb") as out:
            child = subprocess.Popen(command, stdout=out, stderr=err)
        with self.lock:
            self.children.append(child)
        return child, log

    def run(self, role: str, *args: str) -> tuple[int, str, str]:
        """Run ``lakeforge ARGS`` to its end; its exit code, stdout and stderr."""
        began = time.monotonic()
        child, log = self.start(role, *args)
        try:
            code = child.wait(timeout=self.config.step_timeout_s)
        except subprocess.TimeoutExpired:
            kill(child)
            code = -1
        self.last_seconds = round(time.monotonic() - began, 1)
        out = log.with_suffix(".out").read_text(errors="replace")
        return code, out, log.read_text(errors="replace")

    def kill_all(self) -> None:
        """SIGKILL, by pid, every child of this storm still running."""
        with self.lock:
            children = list(self.children)
        for child in children:
            if child.poll() is None:
                kill(child)

    # -- what the log and the tables hold ---------------------------------------------

    def log_end(self) -> int:
        """Trades on the log (nothing is deleted: retention is 7 days)."""
        with self.lock:
            if self._log is None:
                if not (self.state / "log.db").exists():
                    return 0
                self._log = EmbeddedLog(self.state / "log.db")
            log = self._log
        try:
            return sum(log.end_offsets(TOPIC).values())
        except LakeforgeError:
            return 0  # the producer has not created the topic yet

    def delta_uri(self) -> Path:
        return self.state / "warehouse" / "delta" / "bronze" / "trades"

    def committed(self) -> tuple[int, int | None]:
        """Trades committed to bronze (Delta's positions), and the Delta version of that."""
        uri = self.delta_uri()
        if not DeltaLog.exists(str(uri)):
            return 0, None
        last = DeltaLog(str(uri)).last_batch()
        if last is None:
            return 0, None
        return sum(last.record.positions.values()), last.version

    def iceberg_delta_version(self) -> int | None:
        """The Delta version whose batches Iceberg's current snapshot holds."""
        with Warehouse(self.state / "warehouse") as warehouse:
            for info in warehouse.list_tables():
                if info.name == BRONZE:
                    return info.delta_version
        return None

    def data_files(self) -> tuple[set[str], set[str]]:
        """Bronze's data files on disk, and those Delta references."""
        from deltalake import DeltaTable

        folder = self.delta_uri() / "data"
        on_disk = {p.name for p in folder.glob("*.parquet")} if folder.exists() else set()
        if not DeltaTable.is_deltatable(str(self.delta_uri())):
            return on_disk, set()
        referenced = {Path(u).name for u in DeltaTable(str(self.delta_uri())).file_uris()}
        return on_disk, referenced

    def elapsed(self) -> float:
        return time.monotonic() - self.started


def kill(child: subprocess.Popen[bytes]) -> None:
    """SIGKILL one child by its pid and reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(child.pid, signal.SIGKILL)
    child.wait()


def tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0-100), linear between the two nearest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return round(ordered[low] + (ordered[high] - ordered[low]) * (rank - low), 3)


# -- the runner lane ----------------------------------------------------------------------


def runner_metrics(storm: Storm, pid: int) -> str | None:
    """What the runner with ``pid`` serves on its metrics endpoint, once advertised."""
    try:
        advertised = json.loads((storm.state / "run" / "runner.json").read_text())
    except (OSError, ValueError):
        return None
    if advertised.get("pid") != pid:
        return None  # still the file of a killed runner
    try:
        with urllib.request.urlopen(advertised["url"], timeout=2) as response:
            return str(response.read().decode())
    except OSError:
        return None


def bronze_rows_committed(metrics: str | None) -> int:
    if metrics is None:
        return 0
    return int(sum(float(value) for value in COMMITTED.findall(metrics)))


def first_commit(
    storm: Storm, runner: subprocess.Popen[bytes], log: Path
) -> tuple[float | None, float | None]:
    """Seconds until ``runner`` is ready, and until it commits to bronze.

    None for a commit when there is nothing left to commit (or the storm stops).
    """
    began = time.monotonic()
    idle_check = began + 5
    ready = None
    # What was committed before this runner started: it is the only runner, so any
    # growth is its own commit, even one made after its metrics were last read.
    committed_before = storm.committed()[0]
    while not storm.stop.is_set():
        if runner.poll() is not None:
            storm.fail(
                f"runner {runner.pid} exited {runner.returncode} before its first commit:\n"
                + tail(log.read_text(errors="replace"))
            )
            return ready, None
        metrics = runner_metrics(storm, runner.pid)
        now = time.monotonic()
        if ready is None and metrics is not None and READY.search(metrics):
            ready = now - began
        if bronze_rows_committed(metrics) > 0:
            return ready if ready is not None else now - began, now - began
        if now > idle_check:
            # Everything produced is committed: there is no commit to wait for. Unless
            # this runner made that commit since its metrics were read above (seen in
            # CI: its one batch held all the rest); then the next read shows it.
            committed = storm.committed()[0]
            if (
                storm.producer_done.is_set()
                and committed >= storm.log_end()
                and committed == committed_before
            ):
                return ready, None
            idle_check = now + 1
        if now - began > storm.config.step_timeout_s:
            storm.fail(f"runner {runner.pid} made no commit in {now - began:.0f}s")
            return ready, None
        time.sleep(POLL_S)
    return ready, None


def runner_lane(storm: Storm, rng: random.Random) -> subprocess.Popen[bytes] | None:
    """Start the runner, then kill and restart it ``kills`` times; return the last one."""
    config = storm.config
    runner, log = storm.start("runner", "process", "--quiet")
    began = time.monotonic()
    ready, recovery = first_commit(storm, runner, log)
    orphans_before = set[str]()
    for number in range(1, config.kills + 1):
        if storm.stop.is_set():
            return runner
        delay = rng.uniform(*config.kill_delay)
        if storm.stop.wait(delay):
            return runner
        if runner.poll() is not None:
            storm.fail(f"runner {runner.pid} exited {runner.returncode} on its own")
            return None
        committed_by_runner = bronze_rows_committed(runner_metrics(storm, runner.pid))
        log_end = storm.log_end()
        kill(runner)
        killed_at = time.monotonic()
        storm.cycles.append(killed_at - began)
        committed, delta_version = storm.committed()
        on_disk, referenced = storm.data_files()
        orphans = on_disk - referenced
        iceberg_version = storm.iceberg_delta_version()
        record = RunnerKill(
            number=number,
            recovery_s=round(recovery, 3) if recovery is not None else -1.0,
            ready_s=round(ready, 3) if ready is not None else -1.0,
            delay_s=round(delay, 3),
            committed_by_runner=committed_by_runner,
            log_end=log_end,
            committed=committed,
            uncommitted=log_end - committed,
            mid_stream=committed_by_runner > 0 and committed < config.trades,
            orphan_file=bool(orphans - orphans_before),
            iceberg_behind=(
                delta_version is not None
                and iceberg_version is not None
                and iceberg_version < delta_version
            ),
        )
        orphans_before = orphans
        storm.runner_kills.append(record)
        where = (
            "between Parquet and Delta"
            if record.orphan_file
            else "between Delta and Iceberg"
            if record.iceberg_behind
            else "no half-done commit left"
        )
        storm.say(
            f"runner kill {number}/{config.kills} at {storm.elapsed():.0f}s: "
            f"{record.committed:,} committed, {record.uncommitted:,} more on the log, "
            f"{where}; restarting"
        )
        runner, log = storm.start("runner", "process", "--quiet")
        began = time.monotonic()
        ready, recovery = first_commit(storm, runner, log)
        if recovery is None and not storm.stop.is_set():
            storm.say("  (nothing left to commit: the restarted runner is idle)")
        storm.recoveries.append(recovery)
        storm.readies.append(ready)
    return runner


# -- the producer lane --------------------------------------------------------------------


def producer_rate(storm: Storm, remaining: int) -> float:
    """Trades/s that spread the remaining trades over the remaining runner kills."""
    config = storm.config
    if config.rate is not None:
        return config.rate
    kills_left = config.kills - len(storm.runner_kills)
    if kills_left <= 0:
        return 0  # as fast as possible: the kills are done
    # Until one is measured: start-up and first commit (about 3 s on 2 cores), the delay.
    cycle = statistics.median(storm.cycles) if storm.cycles else 3.5 + sum(config.kill_delay) / 2
    # 25% longer than the kills should take: the last kills still find trades arriving.
    return max(500.0, remaining / (kills_left * cycle * 1.25))


def producer_lane(storm: Storm, rng: random.Random) -> None:
    config = storm.config
    points = sorted(rng.uniform(0.05, 0.9) * config.trades for _ in range(config.producer_kills))
    number = 0
    try:
        while not storm.stop.is_set():
            before = storm.log_end()
            remaining = config.trades - before
            if remaining <= 0:
                return
            rate = producer_rate(storm, remaining)
            producer, log = storm.start(
                "producer", "produce", "--count", str(remaining), "--rate", f"{rate:.0f}"
            )
            if storm.producer_kills:
                storm.producer_kills[-1].resumed_after_id = resumed_after(storm, producer, log)
            if number >= len(points):
                if producer.wait(timeout=None) != 0:
                    storm.fail(
                        f"producer exited {producer.returncode}:\n"
                        + tail(log.read_text(errors="replace"))
                    )
                return
            point = max(points[number], before + 1)
            while producer.poll() is None and not storm.stop.is_set():
                if storm.log_end() >= point:
                    break
                time.sleep(0.02)
            if producer.poll() is not None:
                if producer.returncode != 0:
                    storm.fail(
                        f"producer exited {producer.returncode}:\n"
                        + tail(log.read_text(errors="replace"))
                    )
                    return
                continue  # it finished before its kill point: nothing left to kill
            time.sleep(rng.uniform(0, 0.05))  # anywhere in its generate/encode/append cycle
            kill(producer)
            number += 1
            storm.producer_kills.append(ProducerKill(number, storm.log_end()))
            storm.say(
                f"producer kill {number}/{config.producer_kills} at {storm.elapsed():.0f}s: "
                f"{storm.producer_kills[-1].log_end:,} trades on the log; restarting"
            )
    finally:
        storm.producer_done.set()


def resumed_after(storm: Storm, producer: subprocess.Popen[bytes], log: Path) -> int | None:
    """The id a restarted producer resumes after, from its 'resuming after' line."""
    deadline = time.monotonic() + storm.config.step_timeout_s
    while time.monotonic() < deadline:
        found = re.search(r"resuming after record id (\d+)", log.read_text(errors="replace"))
        if found:
            return int(found.group(1))
        if producer.poll() is not None:
            return None
        time.sleep(POLL_S)
    return None


# -- the transform lane -------------------------------------------------------------------


def transform_lane(storm: Storm, rng: random.Random) -> None:
    """Kill transforms at random points of the stream, each at a random node of its run."""
    config = storm.config
    points = sorted(rng.uniform(0.1, 0.8) * config.trades for _ in range(config.transform_kills))
    for number, point in enumerate(points, start=1):
        # The log first (a cheap query), then bronze: a transform needs a bronze table.
        while storm.log_end() < point or storm.committed()[0] == 0:
            if storm.stop.wait(0.2):
                return
        for _attempt in range(5):
            if storm.stop.is_set():
                return
            killed = kill_transform(storm, rng, number)
            if killed is None:
                return  # it failed: the storm has failed
            if killed:
                break
        else:
            storm.fail(f"transform kill {number}: every transform finished before its kill")
            return
        if number < len(points):
            # One runs to completion in between: the next kill interrupts incremental
            # builds and publishes on top of what it published.
            code, output, errors = storm.run("transform", "transform")
            if code != 0:
                storm.fail(f"a transform after a killed one exited {code}:\n{tail(errors)}")
                return
            storm.transforms_completed += 1
            storm.transform_nodes = len(NODE_LINE.findall(errors))
            storm.say(f"at {storm.elapsed():.0f}s: {output.strip()}")


def kill_transform(storm: Storm, rng: random.Random, number: int) -> bool | None:
    """Start a transform and kill it after a random number of its dbt nodes finished.

    True once killed; False when it finished first; None when it failed.
    """
    lock = storm.state / "transform" / "transform.lock"
    # 0: while it pins bronze and dbt parses; all: while it publishes. Until a complete
    # run has been seen, the stocks project's 26 nodes (4 models, 22 tests).
    nodes = rng.randint(0, storm.transform_nodes or 26)
    transform, log = storm.start("transform", "transform")
    while transform.poll() is None and not storm.stop.is_set():
        if lock.exists() and lock.read_text().strip() == str(transform.pid):
            break
        time.sleep(POLL_S)
    locked = time.monotonic()
    while transform.poll() is None and len(NODE_LINE.findall(log.read_text())) < nodes:
        time.sleep(0.02)
    time.sleep(rng.uniform(0, 0.5))
    if transform.poll() is None:
        kill(transform)
        output = log.read_text(errors="replace")
        nodes_done = [line.strip() for line in output.splitlines() if NODE_LINE.match(line)]
        storm.transform_kills.append(
            TransformKill(
                number,
                round(time.monotonic() - locked, 3),
                len(nodes_done),
                nodes_done[-1] if nodes_done else "(no dbt node finished yet)",
            )
        )
        storm.say(
            f"transform kill {number}/{storm.config.transform_kills} at "
            f"{storm.elapsed():.0f}s, after {len(nodes_done)} dbt nodes "
            f"({storm.transform_kills[-1].last_line})"
        )
        return True
    output = log.read_text(errors="replace")
    if transform.returncode != 0:
        storm.fail(f"transform exited {transform.returncode}:\n{tail(output)}")
        return None
    storm.transforms_completed += 1
    storm.transform_nodes = len(NODE_LINE.findall(output))
    return False


def lane(storm: Storm, name: str, body: Callable[[], object]) -> threading.Thread:
    def guarded() -> None:
        try:
            body()
        except Exception as error:  # a bug of the harness is a failure too
            storm.fail(f"the {name} lane crashed: {error!r}")

    thread = threading.Thread(target=guarded, name=name, daemon=True)
    thread.start()
    return thread


# -- the end: drain, verify, transform, check ---------------------------------------------


def query(storm: Storm, sql: str) -> dict[str, Any] | None:
    code, output, errors = storm.run("query", "query", "--format", "json", " ".join(sql.split()))
    if code != 0:
        storm.fail(f"lakeforge query exited {code}:\n{tail(errors)}")
        return None
    rows = json.loads(output)
    return {key: (int(value) if value is not None else None) for key, value in rows[0].items()}


BRONZE_SQL = """
SELECT
    (SELECT count(*) FROM bronze.trades) AS iceberg_rows,
    (SELECT count(DISTINCT trade_id) FROM bronze.trades) AS iceberg_trade_ids,
    (SELECT count(*) FROM bronze_delta.trades) AS delta_rows,
    (SELECT count(DISTINCT trade_id) FROM bronze_delta.trades) AS delta_trade_ids,
    (SELECT max(trade_id) FROM bronze.trades) AS max_trade_id,
    (SELECT count(*) FROM bronze.trades_dead_letters) AS dead_letters
"""
BRONZE_COLUMNS = (
    "iceberg_rows",
    "iceberg_trade_ids",
    "delta_rows",
    "delta_trade_ids",
    "max_trade_id",
    "dead_letters",
)

LAYERS_SQL = """,
    (SELECT count(*) FROM silver.silver_trades) AS silver_rows,
    (SELECT count(DISTINCT trade_id) FROM silver.silver_trades) AS silver_trade_ids,
    (SELECT count(*) FROM gold.gold_bars_1m) AS bars,
    (SELECT count(*) FROM (SELECT DISTINCT symbol, bar_minute FROM gold.gold_bars_1m)) AS bar_keys,
    (SELECT sum(trade_count) FROM gold.gold_bars_1m) AS bar_trades,
    (SELECT count(*) FROM gold.gold_daily_summary) AS days,
    (SELECT count(*) FROM (SELECT DISTINCT symbol, trade_date FROM gold.gold_daily_summary))
        AS day_keys,
    (SELECT sum(trade_count) FROM gold.gold_daily_summary) AS day_trades
"""


def finish(storm: Storm, runner: subprocess.Popen[bytes] | None) -> dict[str, Any]:
    """Stop the last runner (Ctrl-C); drain, verify, transform and check every layer."""
    config = storm.config
    results: dict[str, Any] = {}
    if runner is not None and not storm.failures:
        # All is produced: a clean stop lets the current commit finish, and the drain
        # below (a new runner) commits what is left.
        runner.send_signal(signal.SIGINT)
        try:
            code = runner.wait(timeout=config.step_timeout_s)
        except subprocess.TimeoutExpired:
            kill(runner)
            code = -1
        results["last_runner_exit"] = code
        if code != 0:
            storm.fail(f"the last runner, stopped with Ctrl-C, exited {code}")
    if storm.failures:
        return results
    results["committed_before_drain"] = storm.committed()[0]
    seconds = results["seconds"] = {}
    code, output, errors = storm.run("runner", "process", "--until-drained", "--quiet")
    seconds["drain"] = storm.last_seconds
    results["drain"] = output.strip()
    if code != 0:
        storm.fail(f"lakeforge process --until-drained exited {code}:\n{tail(errors)}")
        return results

    code, output, errors = storm.run("verify", "verify", "--json")
    seconds["verify"] = storm.last_seconds
    report = json.loads(output) if code in (0, 1) and output.strip() else {}
    partitions = [p for table in report.get("tables", []) for p in table["partitions"]]
    accounts = [a for p in partitions for a in p["accounts"].values()]
    results["verify"] = {
        "exit_code": code,
        "ok": bool(report.get("ok")),
        "position": sum(p["position"] for p in partitions),
        "log_end": sum(p["log_end"] for p in partitions),
        "missing": sum(a["missing"] for a in accounts),
        "duplicates": sum(a["duplicates"] for a in accounts),
        "unknown": sum(a["unknown"] for a in accounts),
        "iceberg_rows": sum(p["accounts"]["iceberg"]["rows"] for p in partitions),
        "delta_rows": sum(p["accounts"]["delta"]["rows"] for p in partitions),
        "problems": [q for p in partitions for q in p["problems"]],
    }
    storm.say(f"verify: {json.dumps(results['verify'])}")
    if code != 0 or not report.get("ok"):
        storm.fail(f"lakeforge verify failed (exit {code}):\n{tail(output + errors, 40)}")

    code, output, errors = storm.run("transform", "transform", "--json")
    seconds["transform"] = storm.last_seconds
    report = json.loads(output) if output.strip() else {}
    results["transform"] = {
        "exit_code": code,
        "status": report.get("status"),
        "run": report.get("run"),
        "duration_seconds": report.get("duration_seconds"),
    }
    transformed = code == 0 and report.get("status") == "success"
    if not transformed:
        storm.fail(f"the final transform failed (exit {code}):\n{tail(output + errors, 40)}")
    # One query (one process start) for every layer; bronze alone if there is no gold.
    counts = query(storm, BRONZE_SQL + (LAYERS_SQL if transformed else ""))
    seconds["query"] = storm.last_seconds
    if counts is not None:
        results["bronze"] = {k: counts.pop(k) for k in BRONZE_COLUMNS}
        storm.say(f"bronze: {json.dumps(results['bronze'])}")
        if transformed:
            results["layers"] = counts
            storm.say(f"silver and gold: {json.dumps(counts)}")
    return results


def checks(storm: Storm, results: dict[str, Any]) -> dict[str, bool]:
    """Every property the storm proves, by name: all must be True."""
    config = storm.config
    verify = results.get("verify") or {}
    bronze = results.get("bronze") or {}
    layers = results.get("layers") or {}
    trades = config.trades
    kills = storm.runner_kills
    return {
        "runner_killed_as_asked": len(kills) == config.kills,
        "producer_killed_as_asked": len(storm.producer_kills) == config.producer_kills,
        "transform_killed_as_asked": len(storm.transform_kills) == config.transform_kills,
        # Each killed runner had committed, and the stream was not over.
        "every_runner_kill_mid_stream": all(k.mid_stream for k in kills),
        "every_restart_committed": len(storm.recoveries) == config.kills
        and all(r is not None for r in storm.recoveries),
        "produced_exactly": storm.log_end() == trades,
        "verify_ok": bool(verify.get("ok"))
        and verify.get("missing") == 0
        and verify.get("duplicates") == 0
        and verify.get("position") == trades,
        "bronze_exactly_once_iceberg": bronze.get("iceberg_rows") == trades
        and bronze.get("iceberg_trade_ids") == trades,
        "bronze_exactly_once_delta": bronze.get("delta_rows") == trades
        and bronze.get("delta_trade_ids") == trades,
        "no_dead_letters": bronze.get("dead_letters") == 0,
        "silver_unique_and_complete": layers.get("silver_rows") == trades
        and layers.get("silver_trade_ids") == trades,
        "gold_bars_unique_and_complete": layers.get("bars") == layers.get("bar_keys")
        and layers.get("bar_trades") == trades,
        "gold_days_unique_and_complete": layers.get("days") == layers.get("day_keys")
        and layers.get("day_trades") == trades,
    }


def run_storm(config: StormConfig, say: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run one crash storm; return its summary (``summary["ok"]``: every check passed)."""
    say = say or (lambda line: print(line, file=sys.stderr, flush=True))
    workdir = config.workdir or Path(tempfile.mkdtemp(prefix="crash-storm-"))
    folder = workdir / "stocks"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(
        ROOT / "examples" / "stocks",
        folder,
        ignore=shutil.ignore_patterns(".lakeforge", "target", "logs"),
    )
    logs = workdir / "logs"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    storm = Storm(config, folder, logs, say)
    say(
        f"crash storm in {folder}: {config.trades:,} trades, {config.kills} runner kills, "
        f"{config.producer_kills} producer kills, {config.transform_kills} transform kills"
    )
    rngs = [random.Random(f"{config.seed}:{name}") for name in ("runner", "producer", "transform")]
    results: dict[str, Any] = {}
    try:
        lanes = [
            lane(storm, "producer", lambda: producer_lane(storm, rngs[1])),
            lane(storm, "transform", lambda: transform_lane(storm, rngs[2])),
        ]
        runner = runner_lane(storm, rngs[0])
        storm.storm_seconds = storm.elapsed()
        for thread in lanes:
            while thread.is_alive() and not storm.stop.is_set():
                thread.join(timeout=1)
        results = finish(storm, runner)
    finally:
        storm.stop.set()
        storm.kill_all()
    recoveries = [round(r, 3) for r in storm.recoveries if r is not None]
    readies = [round(r, 3) for r in storm.readies if r is not None]
    passed = checks(storm, results)
    ok = not storm.failures and all(passed.values())
    summary: dict[str, Any] = {
        "ok": ok,
        "machine": describe(),
        "config": {
            **{k: v for k, v in asdict(config).items() if k not in ("workdir", "keep")},
            "kill_delay": list(config.kill_delay),
        },
        "trades": config.trades,
        "runtime_s": round(storm.elapsed(), 1),
        "storm_s": round(storm.storm_seconds, 1),
        "kills": {
            "runner": len(storm.runner_kills),
            "producer": len(storm.producer_kills),
            "transform": len(storm.transform_kills),
        },
        "runner_kills_mid_stream": sum(1 for k in storm.runner_kills if k.mid_stream),
        "runner_kills_with_trades_on_the_log": sum(
            1 for k in storm.runner_kills if k.uncommitted > 0
        ),
        "runner_kills_inside_commit": {
            "after_parquet_before_delta": sum(1 for k in storm.runner_kills if k.orphan_file),
            "after_delta_before_iceberg": sum(1 for k in storm.runner_kills if k.iceberg_behind),
        },
        "uncommitted_at_kill": {
            "min": min((k.uncommitted for k in storm.runner_kills), default=None),
            "median": percentile([k.uncommitted for k in storm.runner_kills], 50),
            "max": max((k.uncommitted for k in storm.runner_kills), default=None),
        },
        "recovery_s": {
            "restarts": len(recoveries),
            "p50": percentile(recoveries, 50),
            "p99": percentile(recoveries, 99),
            "max": max(recoveries, default=None),
            "each": recoveries,
        },
        "ready_s": {
            "p50": percentile(readies, 50),
            "p99": percentile(readies, 99),
            "max": max(readies, default=None),
            "each": readies,
        },
        "first_start_s": storm.runner_kills[0].recovery_s if storm.runner_kills else None,
        "transforms_completed_during_storm": storm.transforms_completed,
        "trade_id_gaps": (
            results["bronze"]["max_trade_id"] - config.trades
            if results.get("bronze") and results["bronze"].get("max_trade_id") is not None
            else None
        ),
        **results,
        "checks": passed,
        "failures": storm.failures,
        "runner_kill_log": [asdict(k) for k in storm.runner_kills],
        "producer_kill_log": [asdict(k) for k in storm.producer_kills],
        "transform_kill_log": [asdict(k) for k in storm.transform_kills],
        "workdir": str(workdir),
    }
    if ok and not config.keep:
        shutil.rmtree(workdir, ignore_errors=True)
        summary["workdir"] = None
    else:
        say(f"the pipeline and the logs of every process are kept in {workdir}")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=2_000_000)
    parser.add_argument("--kills", type=int, default=50, help="SIGKILLs of the stream runner")
    parser.add_argument("--producer-kills", type=int, default=3)
    parser.add_argument("--transform-kills", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--kill-delay",
        type=float,
        nargs=2,
        default=(0.5, 4.0),
        metavar=("MIN", "MAX"),
        help="seconds after a restarted runner's first commit before it is killed",
    )
    parser.add_argument("--rate", type=float, help="producer trades/s (default: paced)")
    parser.add_argument("--workdir", type=Path, help="default: a temporary folder")
    parser.add_argument("--keep", action="store_true", help="keep the pipeline and the logs")
    parser.add_argument(
        "--json",
        type=Path,
        default=ROOT / "bench" / "results" / "crash_storm.json",
        help="where to write the summary",
    )
    args = parser.parse_args()
    config = StormConfig(
        trades=args.trades,
        kills=args.kills,
        producer_kills=args.producer_kills,
        transform_kills=args.transform_kills,
        seed=args.seed,
        kill_delay=tuple(args.kill_delay),
        rate=args.rate,
        workdir=args.workdir,
        keep=args.keep,
    )
    summary = run_storm(config)
    text = json.dumps(summary, indent=2)
    print(text)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(text + "\n")
    print(file=sys.stderr)
    print(markdown(summary["machine"]), file=sys.stderr)
    recovery = summary["recovery_s"]
    print(
        f"{'PASSED' if summary['ok'] else 'FAILED'}: {summary['kills']['runner']} runner, "
        f"{summary['kills']['producer']} producer and {summary['kills']['transform']} "
        f"transform kills over {summary['trades']:,} trades in {summary['runtime_s']:.0f}s; "
        f"recovery p50 {recovery['p50']}s p99 {recovery['p99']}s",
        file=sys.stderr,
    )
    if not summary["ok"]:
        failed = [name for name, passed in summary["checks"].items() if not passed]
        print(f"failed checks: {', '.join(failed) or 'none'}", file=sys.stderr)
        for failure in summary["failures"]:
            print(f"failure: {failure}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
