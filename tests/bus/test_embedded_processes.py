"""The embedded log shared by processes: producers and a consumer at once, SIGKILL, forks.

Children are forked from a process that already has the log open, so these tests also
prove that a forked child opens its own connection instead of using its parent's.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import sqlite3
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from lakeforge.bus import TopicSpec
from lakeforge.bus.embedded import EmbeddedLog

FORK = multiprocessing.get_context("fork")
BATCH, ROUNDS, PRODUCERS = 300, 25, 2


def _produce(log: EmbeddedLog, producer: int, start: multiprocessing.synchronize.Event) -> None:
    start.wait()
    for round_ in range(ROUNDS):
        for partition in (0, 1):
            batch = [f"p{producer}:{partition}:{round_}:{i}".encode() for i in range(BATCH)]
            log.append("trades", partition, pa.table({"value": batch}))


def _consume(
    log: EmbeddedLog, expected: dict[int, int], results: multiprocessing.Queue[Any]
) -> None:
    # Tails both partitions at once, as the stream runner does, until all has arrived.
    seen: dict[int, list[tuple[int, bytes]]] = {0: [], 1: []}
    offsets = {0: 0, 1: 0}
    deadline = time.monotonic() + 60
    while any(len(seen[p]) < expected[p] for p in seen) and time.monotonic() < deadline:
        for partition in seen:
            fetched = log.fetch("trades", partition, offsets[partition], 170)
            records = fetched.records
            pairs = zip(records["offset"].to_pylist(), records["value"].to_pylist(), strict=True)
            seen[partition] += pairs
            offsets[partition] = fetched.next_offset
        time.sleep(0.001)
    results.put(seen)


@pytest.mark.timeout(120)
def test_two_producers_and_a_consumer_at_once(tmp_path: Path) -> None:
    log = EmbeddedLog(tmp_path / "log.db")
    log.create_topic(TopicSpec("trades", partitions=2))
    log.append("trades", 0, pa.table({"value": [b"parent"]}))  # the parent holds a connection
    expected = {0: 1 + PRODUCERS * ROUNDS * BATCH, 1: PRODUCERS * ROUNDS * BATCH}
    start, results = FORK.Event(), FORK.Queue()
    consumer = FORK.Process(target=_consume, args=(log, expected, results))
    producers = [FORK.Process(target=_produce, args=(log, p, start)) for p in range(PRODUCERS)]
    for process in [consumer, *producers]:
        process.start()
    start.set()
    seen = results.get(timeout=90)
    for process in [consumer, *producers]:
        process.join(timeout=30)
        assert process.exitcode == 0

    assert log.end_offsets("trades") == expected
    for partition, messages in seen.items():
        # Every offset exactly once and in order, and the same as a fresh read gives.
        assert [offset for offset, _ in messages] == list(range(expected[partition]))
        fresh = log.fetch("trades", partition, 0, expected[partition] + 10).records
        assert fresh["value"].to_pylist() == [value for _, value in messages]
        by_producer: dict[bytes, list[tuple[int, int, int]]] = defaultdict(list)
        for offset, value in messages[1 if partition == 0 else 0 :]:
            producer, _, round_, i = value.split(b":")
            by_producer[producer].append((offset, int(round_), int(i)))
        for sent in by_producer.values():
            assert [(r, i) for _, r, i in sent] == [
                (r, i) for r in range(ROUNDS) for i in range(BATCH)
            ]
            # A batch is one append: its messages have consecutive offsets.
            for start_at in range(0, len(sent), BATCH):
                offsets = [offset for offset, _, _ in sent[start_at : start_at + BATCH]]
                assert offsets == list(range(offsets[0], offsets[0] + BATCH))
    log.close()


KILL_BATCH = 40_000


def _append_forever(path: Path, ready: multiprocessing.synchronize.Event) -> None:
    log = EmbeddedLog(path, compression=None)
    positions = [b"%059d" % i for i in range(KILL_BATCH)]
    table = pa.table({"value": positions})
    for number in range(1_000_000):
        keys = pa.repeat(pa.scalar(b"%d" % number, pa.binary()), KILL_BATCH)
        log.append("trades", 0, table.append_column("key", keys))
        ready.set()


@pytest.mark.timeout(120)
def test_sigkill_mid_append_leaves_whole_batches_only(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    log = EmbeddedLog(path)
    log.create_topic(TopicSpec("trades", partitions=1))
    rng = random.Random(5)
    for _ in range(4):
        ready = FORK.Event()
        producer = FORK.Process(target=_append_forever, args=(path, ready))
        producer.start()
        assert ready.wait(30)
        # An append takes a few ms, mostly inside its transaction: over four rounds the
        # kill very likely lands inside one at least once.
        time.sleep(rng.uniform(0.005, 0.15))
        os.kill(producer.pid, signal.SIGKILL)  # type: ignore[arg-type]
        producer.join()

        with sqlite3.connect(path) as raw:
            assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        end = log.end_offsets("trades")[0]
        assert end % KILL_BATCH == 0
        records = log.fetch("trades", 0, 0, end + 1).records
        assert records.num_rows == end
        positions = records["value"].to_pylist()
        keys = records["key"].to_pylist()
        for start_at in range(0, end, KILL_BATCH):
            assert positions[start_at] == b"%059d" % 0
            assert positions[start_at + KILL_BATCH - 1] == b"%059d" % (KILL_BATCH - 1)
            assert len(set(keys[start_at : start_at + KILL_BATCH])) == 1
    log.close()


def _open_fresh(path: Path, barrier: multiprocessing.synchronize.Barrier) -> None:
    barrier.wait()
    log = EmbeddedLog(path)
    log.create_topic(TopicSpec("trades", partitions=1))
    log.append("trades", 0, pa.table({"value": [b"x"]}))


@pytest.mark.timeout(120)
def test_processes_opening_a_new_log_at_once_all_succeed(tmp_path: Path) -> None:
    # SQLite lets only one of them switch a new file to WAL and refuses the others
    # without waiting; the log must retry rather than fail.
    for round_ in range(5):
        path = tmp_path / f"log-{round_}.db"
        barrier = FORK.Barrier(4)
        openers = [FORK.Process(target=_open_fresh, args=(path, barrier)) for _ in range(4)]
        for process in openers:
            process.start()
        for process in openers:
            process.join(timeout=30)
        assert [process.exitcode for process in openers] == [0] * 4
        with EmbeddedLog(path) as log:
            assert log.end_offsets("trades") == {0: 4}


def _connection_id(log: EmbeddedLog, results: multiprocessing.Queue[Any]) -> None:
    log.end_offsets("trades")
    results.put(id(log._db))


def test_a_forked_child_opens_its_own_connection(tmp_path: Path) -> None:
    # SQLite forbids using a connection in a child of the process that opened it, and
    # misuse fails only by chance, so check the mechanism itself.
    log = EmbeddedLog(tmp_path / "log.db")
    log.create_topic(TopicSpec("trades", partitions=1))
    parents = id(log._db)
    results = FORK.Queue()
    child = FORK.Process(target=_connection_id, args=(log, results))
    child.start()
    childs = results.get(timeout=30)
    child.join()
    assert childs != parents
    assert id(log._db) == parents  # the parent keeps its own
    log.close()
