"""Replay dead letters onto their topic after a fix, each one once.

A replay appends a dead letter's raw bytes again, to the same topic and partition
(so a key keeps its order), where the runner decodes them anew. A ledger in the state
directory remembers what was replayed, so a second replay sends nothing twice.

The ledger and the bus cannot commit together, so a replay first records its
messages as *pending* with the partition's end offset, then appends, then marks them
done. If a crash leaves pending entries, the next replay looks in the log after the
recorded offset: a message already there is marked done, a missing one is appended.

Letters go in chunks (at most :data:`CHUNK_ROWS` letters and about :data:`CHUNK_BYTES`
of values), each one pending, appended, done before the next: a crash leaves at most one
chunk per partition pending, and memory holds one chunk however many letters there are.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakeforge.bus.base import Bus

_SCHEMA = """
CREATE TABLE IF NOT EXISTS replayed (
    topic TEXT NOT NULL, partition INTEGER NOT NULL, offset INTEGER NOT NULL,
    status TEXT NOT NULL, end_before INTEGER NOT NULL, at REAL NOT NULL,
    PRIMARY KEY (topic, partition, offset)
)
"""
#: A replay appends at most this many letters in one go...
CHUNK_ROWS = 10_000
#: ... and about this many bytes of values (a larger letter goes alone).
CHUNK_BYTES = 64 * 1024 * 1024
#: Looking for a crashed replay's letters, the log is read this much at a time.
LOG_READ_ROWS = 10_000
LOG_READ_BYTES = 64 * 1024 * 1024
#: Offsets asked of SQLite in one statement: below its bound of 999 parameters before 3.32.
_QUERY_OFFSETS = 500


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

    def statuses(self, topic: str, partition: int, offsets: Sequence[int]) -> dict[int, str]:
        """The status, 'pending' or 'done', by offset, of those of ``offsets`` that were replayed.

        Unlike :meth:`status`, it reads only the entries asked for, however large the
        ledger is.
        """
        result: dict[int, str] = {}
        for start in range(0, len(offsets), _QUERY_OFFSETS):
            part = list(offsets[start : start + _QUERY_OFFSETS])
            rows = self._db.execute(
                "SELECT offset, status FROM replayed WHERE topic = ? AND partition = ? "
                f"AND offset IN ({', '.join('?' * len(part))})",
                (topic, partition, *part),
            )
            result.update(rows)
        return result

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
    """Offsets of ``letters`` whose bytes are already in the log after ``end_before``.

    The log is compared with the letters a read at a time (:data:`LOG_READ_ROWS`
    messages): memory holds the letters and one read, however much was appended since.
    """
    first = letters[0]
    end = bus.end_offsets(first.topic)[first.partition]
    if end <= end_before:
        return set()
    wanted = pa.array([letter.value for letter in letters], pa.binary())
    found = np.zeros(len(letters), dtype=bool)
    offset = end_before
    while offset < end and not found.all():  # a bus may return fewer messages than asked
        count = min(end - offset, LOG_READ_ROWS)
        fetched = bus.fetch(first.topic, first.partition, offset, count, LOG_READ_BYTES)
        if not fetched.count:
            break
        present = fetched.records["value"].cast(pa.binary())
        found |= pc.is_in(wanted, value_set=present).to_numpy(zero_copy_only=False)
        offset = fetched.next_offset
    return {letter.offset for letter, hit in zip(letters, found, strict=True) if hit}


def chunks(
    letters: Iterable[Letter], rows: int = CHUNK_ROWS, size: int = CHUNK_BYTES
) -> Iterator[list[Letter]]:
    """Consecutive letters of one partition: at most ``rows``, values of at most ``size`` bytes.

    A letter larger than ``size`` makes a chunk of its own.
    """
    chunk: list[Letter] = []
    held = 0
    for letter in letters:
        bytes_ = len(letter.value or b"")
        if chunk and (
            (chunk[0].topic, chunk[0].partition) != (letter.topic, letter.partition)
            or len(chunk) >= rows
            or held + bytes_ > size
        ):
            yield chunk
            chunk, held = [], 0
        chunk.append(letter)
        held += bytes_
    if chunk:
        yield chunk


def replay(
    bus: Bus,
    ledger: ReplayLedger,
    letters: Iterable[Letter],
    rows: int = CHUNK_ROWS,
    size: int = CHUNK_BYTES,
) -> int:
    """Append every letter not yet replayed; return how many were appended.

    A partition's letters are appended in the order given: give them by offset, so
    that a key keeps its order. They go a chunk at a time (see :func:`chunks`), so
    memory holds one chunk besides what ``letters`` holds: an iterator that reads the
    letters lazily keeps a replay of millions bounded.
    """
    return sum(_replay_chunk(bus, ledger, chunk) for chunk in chunks(letters, rows, size))


def _replay_chunk(bus: Bus, ledger: ReplayLedger, chunk: list[Letter]) -> int:
    """Replay one partition's chunk: pending, appended, done; how many were appended."""
    topic, partition = chunk[0].topic, chunk[0].partition
    pending = dict(ledger.pending(topic).get(partition, []))
    stuck = [letter for letter in chunk if letter.offset in pending]
    if stuck:  # a replay crashed between pending and done: what reached the log is done
        since = min(pending.values())
        ledger.mark(topic, partition, _already_in_log(bus, stuck, since), "done", since)
    status = ledger.statuses(topic, partition, [letter.offset for letter in chunk])
    todo = [letter for letter in chunk if status.get(letter.offset) != "done"]
    if not todo:
        return 0
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
    return len(todo)
