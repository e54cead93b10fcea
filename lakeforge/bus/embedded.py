"""The embedded durable log: the local profile's bus, in one SQLite file.

Each append is one row of ``batches`` holding the whole batch, as Kafka stores record
batches (see :mod:`lakeforge.bus.record_batch`); ``partitions`` keeps each partition's
start and end offsets, so both stay right after retention has deleted every batch and
after a restart. Several processes may use one log at once: an append assigns its
offsets inside a ``BEGIN IMMEDIATE`` transaction, which SQLite grants to one writer at a
time, and readers see committed appends only (WAL mode).

What survives what, with the default ``synchronous="NORMAL"``:

* a process that crashes or is killed (SIGKILL included) loses nothing it appended:
  ``append`` returns after its transaction is in the WAL file, which the kernel keeps
  whatever becomes of the process. An append it was in the middle of leaves no trace.
* a power loss or kernel crash keeps the log consistent but may undo the last appends
  (those not yet checkpointed). Their offsets are then given again to new messages, so
  a consumer that had read the lost ones would skip the new ones. Use
  ``synchronous="FULL"`` (an fsync per append) when that matters.
"""

from __future__ import annotations

import contextlib
import operator
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

import pyarrow as pa

from lakeforge.bus import log_file
from lakeforge.bus.base import Bus, Fetched, TopicSpec, check_topic_spec
from lakeforge.bus.batch_reader import BatchReader
from lakeforge.bus.log_file import transaction
from lakeforge.bus.record_batch import Compression, encode_batch
from lakeforge.errors import ConfigError, NotFoundError

# Kafka's rule for topic names, so that a pipeline that runs locally also runs on Kafka.


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class EmbeddedLog(Bus):
    """A :class:`~lakeforge.bus.base.Bus` kept in one SQLite file at ``path``.

    The file (and its folder) is created on first use. ``compression`` is used for
    appends whose values compress (a sample is tried first); a log reads every batch
    whatever its compression. ``busy_timeout_ms`` is how long a call waits for another
    process's write before raising :class:`~lakeforge.errors.TransientError`.
    ``clock`` returns milliseconds since the epoch; it stamps appends that have no
    timestamp column and decides what retention deletes.

    Each process opens its own connection when it first needs one, a child forked
    from a process that had one included; the threads of a process take turns on it.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        compression: Compression = "lz4",
        busy_timeout_ms: int = 10_000,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        clock: Callable[[], int] = _wall_clock_ms,
    ) -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise ConfigError(f"synchronous must be 'NORMAL' or 'FULL', not {synchronous!r}")
        if compression not in (None, "lz4", "zstd") or (
            compression is not None and not pa.Codec.is_available(compression)
        ):
            raise ConfigError(
                f"compression {compression!r} is not available",
                hint="use 'lz4', 'zstd' or None",
            )
        self.path = Path(path)
        self._compression: Compression = compression
        self._busy_timeout_ms = busy_timeout_ms
        self._synchronous = synchronous
        self._clock = clock
        self._db: sqlite3.Connection | None = None
        self._lock = threading.RLock()
        self._reader = BatchReader()
        # topic name -> (topic id, partition count): neither changes once created.
        self._topic_ids: dict[str, tuple[int, int]] = {}
        _OPEN_LOGS.add(self)

    def __repr__(self) -> str:
        return f"EmbeddedLog({str(self.path)!r})"

    def create_topic(self, topic: TopicSpec) -> None:
        """Create ``topic``, or set the retention of the existing topic of that name.

        Raises :class:`~lakeforge.errors.ConfigError` for a name Kafka would refuse,
        fewer than one partition, or a topic that exists with another partition count.
        """
        check_topic_spec(topic)
        with self._session(f"creating topic {topic.name!r}") as db, transaction(db):
            row = db.execute(
                "SELECT id, partitions FROM topics WHERE name = ?", (topic.name,)
            ).fetchone()
            if row is None:
                topic_id = db.execute(
                    "INSERT INTO topics (name, partitions, retention_ms) VALUES (?, ?, ?)",
                    (topic.name, topic.partitions, topic.retention_ms),
                ).lastrowid
                db.executemany(
                    "INSERT INTO partitions VALUES (?, ?, 0, 0)",
                    [(topic_id, p) for p in range(topic.partitions)],
                )
            elif row[1] != topic.partitions:
                raise ConfigError(
                    f"topic {topic.name!r} exists in {self.path} with {row[1]} partitions, "
                    f"not {topic.partitions}",
                    hint="declare the partition count it has, or use a new topic name "
                    "(partitions cannot change: keys would move to other partitions)",
                )
            else:
                db.execute(
                    "UPDATE topics SET retention_ms = ? WHERE id = ?", (topic.retention_ms, row[0])
                )

    def topics(self) -> dict[str, TopicSpec]:
        """Every topic, by name."""
        with self._session("listing topics") as db:
            rows = db.execute("SELECT name, partitions, retention_ms FROM topics").fetchall()
        return {name: TopicSpec(name, count, retention) for name, count, retention in rows}

    def append(self, topic: str, partition: int, batch: pa.Table | pa.RecordBatch) -> int:
        """Append ``batch`` to one partition in one transaction; return its first offset.

        An empty batch stores nothing and returns the partition's end offset. Raises
        :class:`ValueError` for a batch with other columns than key, value and timestamp.
        """
        # Encoding and its CRC happen before the write lock is taken.
        encoded = encode_batch(batch, self._clock(), self._compression)
        with self._session(f"appending to {topic}[{partition}]") as db:
            where = self._partition_key(db, topic, partition)
            if encoded.count == 0:
                return log_file.bounds(db, where)[1]
            with transaction(db):
                base = log_file.bounds(db, where)[1]
                log_file.insert_batch(db, where, encoded.header(base), encoded.payload)
        return base

    def fetch(
        self,
        topic: str,
        partition: int,
        offset: int,
        max_records: int,
        max_bytes: int | None = None,
    ) -> Fetched:
        """Fetch up to ``max_records`` messages from ``offset``.

        It gives exactly that many when the partition holds them, and at least one when
        ``max_bytes`` is smaller than the first message. Raises
        :class:`~lakeforge.errors.DataIntegrityError` when a stored batch fails its CRC
        check or offsets are missing, and :class:`ValueError` for a negative offset or a
        ``max_records`` below one.
        """
        if offset < 0 or max_records < 1:
            raise ValueError(
                f"fetch needs offset >= 0 and max_records >= 1: {offset}, {max_records}"
            )
        with self._session(f"fetching from {topic}[{partition}]") as db:
            where = self._partition_key(db, topic, partition)
            # One read transaction: retention must not delete between the reads.
            with transaction(db, "DEFERRED"):
                start, end = log_file.bounds(db, where)
                first = max(offset, start)
                loaded = []
                if first < end:
                    headers = log_file.batch_headers(db, where, first, max_records, max_bytes)
                    loaded = self._reader.load(where, headers, db)
        # Decoding happens outside the lock: other threads need not wait for it.
        place = f"{topic}[{partition}] in {self.path}"
        records = self._reader.records(place, where, loaded, first, end, max_records, max_bytes)
        next_offset = first + records.num_rows if records.num_rows else max(offset, start)
        return Fetched(topic, partition, records, next_offset)

    def end_offsets(self, topic: str) -> dict[int, int]:
        """For every partition, the offset the next appended message will get."""
        return self._offsets(topic, "end_offset")

    def start_offsets(self, topic: str) -> dict[int, int]:
        """For every partition, the offset of the first message still held."""
        return self._offsets(topic, "start_offset")

    def enforce_retention(self) -> int:
        """Delete the batches that retention lets go; return how many messages went.

        Per partition, the leading batches whose newest message is older than the
        topic's ``retention_ms`` go. As in Kafka only a prefix goes, so the log never
        has a hole. One transaction per partition keeps writers waiting briefly. The
        file does not shrink: later appends reuse the freed pages, so its size levels
        off at what the retention keeps.
        """
        now = self._clock()
        deleted = 0
        with self._session("enforcing retention") as db:
            expiring = db.execute(
                "SELECT p.topic_id, p.partition, t.retention_ms FROM partitions p "
                "JOIN topics t ON t.id = p.topic_id WHERE t.retention_ms IS NOT NULL"
            ).fetchall()
            for topic_id, partition, retention_ms in expiring:
                with transaction(db):
                    where = (topic_id, partition)
                    deleted += log_file.delete_expired(db, where, now - retention_ms)
        return deleted

    def close(self) -> None:
        """Close this process's connection; the log reopens it if used again."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    @contextlib.contextmanager
    def _session(self, doing: str) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                if self._db is None:
                    self._db = log_file.open_log(
                        self.path, self._busy_timeout_ms, self._synchronous
                    )
                yield self._db
            except sqlite3.Error as error:
                raise log_file.translate(error, self.path, doing, self._busy_timeout_ms) from error

    def _after_fork(self) -> None:
        # SQLite must not use a connection inherited across fork(), and closing it could
        # disturb the parent's locks: keep it, unused, for the life of this process.
        if self._db is not None:
            _INHERITED_CONNECTIONS.append(self._db)
        self._db = None
        self._lock = threading.RLock()
        self._reader = BatchReader()

    def _partition_key(self, db: sqlite3.Connection, topic: str, partition: int) -> tuple[int, int]:
        topic_id, count = self._topic(db, topic)
        partition = operator.index(partition)  # numpy integers cannot be bound
        if not 0 <= partition < count:
            raise NotFoundError(
                f"topic {topic!r} has partitions 0 to {count - 1}; there is no partition "
                f"{partition}",
            )
        return topic_id, partition

    def _topic(self, db: sqlite3.Connection, topic: str) -> tuple[int, int]:
        found = self._topic_ids.get(topic)
        if found is None:
            # Another process may have created it since this one last looked.
            rows = db.execute("SELECT name, id, partitions FROM topics").fetchall()
            self._topic_ids = {name: (topic_id, count) for name, topic_id, count in rows}
            found = self._topic_ids.get(topic)
        if found is None:
            known = ", ".join(sorted(self._topic_ids)[:20]) or "none"
            raise NotFoundError(
                f"topic {topic!r} does not exist in the bus log {self.path}; known topics: {known}",
                hint="declare it in the pipeline, or check its spelling",
            )
        return found

    def _offsets(self, topic: str, column: str) -> dict[int, int]:
        with self._session(f"reading the offsets of {topic!r}") as db:
            topic_id, _ = self._topic(db, topic)
            rows = db.execute(
                f"SELECT partition, {column} FROM partitions WHERE topic_id = ?", (topic_id,)
            ).fetchall()
        return dict(sorted(rows))


_OPEN_LOGS: weakref.WeakSet[EmbeddedLog] = weakref.WeakSet()
_INHERITED_CONNECTIONS: list[sqlite3.Connection] = []


def _forget_parent_connections() -> None:
    for log in list(_OPEN_LOGS):
        log._after_fork()


os.register_at_fork(after_in_child=_forget_parent_connections)
