"""Replay dead letters onto their topic after a fix, each one once.

A replay appends a dead letter's raw bytes again, to the same topic and partition
(so a key keeps its order), where the runner decodes them anew. A ledger in the state
directory remembers what was replayed, so a second replay sends nothing twice.

The ledger and the bus cannot commit together, so a replay first records its
messages as *pending* with the partition's end offset, then appends, then marks them
done. If a crash leaves pending entries, the next replay looks in the log after the
recorded offset: a message already there is marked done, a missing one is appended.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from lakeforge.bus.base import Bus

_SCHEMA = """
CREATE TABLE IF NOT EXISTS replayed (
    topic TEXT NOT NULL, partition INTEGER NOT NULL, offset INTEGER NOT NULL,
    status TEXT NOT NULL, end_before INTEGER NOT NULL, at REAL NOT NULL,
    PRIMARY KEY (topic, partition, offset)
)
"""


@dataclass(frozen=True)
class Letter:
    """A dead letter to replay: where it was, and its bytes."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class ReplayLedger:
    """Which dead letters have been replayed, in ``replays.db`` of the state directory."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)

    def status(self, topic: str) -> dict[tuple[int, int], str]:
        """(partition, offset) -> 'pending' or 'done' for every replayed letter."""
        rows = self._db.execute(
            "SELECT partition, offset, status FROM replayed WHERE topic = ?", (topic,)
        )
        return {(p, o): s for p, o, s in rows}

    def pending(self, topic: str) -> dict[int, list[tuple[int, int]]]:
        """Pending letters by partition: (offset, end offset before their append)."""
        rows = self._db.execute(
            "SELECT partition, offset, end_before FROM replayed "
            "WHERE topic = ? AND status = 'pending' ORDER BY partition, offset",
            (topic,),
        )
        result: dict[int, list[tuple[int, int]]] = {}
        for partition, offset, end_before in rows:
            result.setdefault(partition, []).append((offset, end_before))
        return result

    def mark(
        self, topic: str, partition: int, offsets: Iterable[int], status: str, end: int
    ) -> None:
        """Record ``offsets`` of one partition as pending or done, atomically."""
        now = time.time()
        self._db.execute("BEGIN IMMEDIATE")
        self._db.executemany(
            "INSERT INTO replayed VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE "
            "SET status = excluded.status, at = excluded.at",
            [(topic, partition, offset, status, end, now) for offset in offsets],
        )
        self._db.execute("COMMIT")

    def close(self) -> None:
        """Close the ledger."""
        self._db.close()


def _already_in_log(bus: Bus, letters: list[Letter], end_before: int) -> set[int]:
    """Offsets of ``letters`` whose bytes are already in the log after ``end_before``."""
    first = letters[0]
    end = bus.end_offsets(first.topic)[first.partition]
    if end <= end_before:
        return set()
    present: set[bytes | None] = set()
    offset = end_before
    while offset < end:  # a bus may return fewer messages than asked for
        fetched = bus.fetch(first.topic, first.partition, offset, end - offset)
        if not fetched.count:
            break
        present.update(fetched.records["value"].to_pylist())
        offset = fetched.next_offset
    return {letter.offset for letter in letters if letter.value in present}


def replay(bus: Bus, ledger: ReplayLedger, letters: list[Letter]) -> int:
    """Append every letter not yet replayed; return how many were appended."""
    appended = 0
    by_partition: dict[tuple[str, int], list[Letter]] = {}
    for letter in letters:
        by_partition.setdefault((letter.topic, letter.partition), []).append(letter)
    for (topic, partition), group in sorted(by_partition.items()):
        status = ledger.status(topic)
        pending = dict(ledger.pending(topic).get(partition, []))
        if pending:
            stuck = [letter for letter in group if letter.offset in pending]
            if stuck:
                done = _already_in_log(bus, stuck, min(pending.values()))
                ledger.mark(topic, partition, done, "done", min(pending.values()))
                status.update({(partition, offset): "done" for offset in done})
        todo = [letter for letter in group if status.get((partition, letter.offset)) != "done"]
        if not todo:
            continue
        end = bus.end_offsets(topic)[partition]
        offsets = [letter.offset for letter in todo]
        ledger.mark(topic, partition, offsets, "pending", end)
        batch = pa.table(
            {
                "key": pa.array([letter.key for letter in todo], pa.binary()),
                "value": pa.array([letter.value for letter in todo], pa.binary()),
            }
        )
        bus.append(topic, partition, batch)
        ledger.mark(topic, partition, offsets, "done", end)
        appended += len(todo)
    return appended
