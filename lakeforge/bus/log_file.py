"""The SQLite file under the embedded log: its tables, its queries, and its errors.

Kept apart from :mod:`lakeforge.bus.embedded` so that the log reads in terms of topics
and offsets, and this module in terms of SQLite. A partition is addressed by its
``where``: ``(topic id, partition)``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from lakeforge.bus.record_batch import BatchHeader
from lakeforge.errors import (
    ConfigError,
    DataIntegrityError,
    LakeforgeError,
    TerminalError,
    TransientError,
)

#: The table whose presence marks a SQLite file as a lakeforge log.
MARKER_TABLE = "lakeforge_log"
FORMAT_VERSION = "1"

# Batches are blobs of a few megabytes: SQLite's largest page (64 KiB, not 4 KiB) makes
# their overflow-page chains 16 times shorter. bench/bus_bench.py measured appends
# 40% faster than with 4 KiB pages; a bigger page cache or mmap made them slower.
_PAGE_SIZE = 65_536
# Checkpoint every 64 MiB of WAL rather than every 4 MiB: with megabyte batches the
# default checkpoints, and fsyncs, every few appends.
_CHECKPOINT_PAGES = 1_024

_TABLES = (
    f"CREATE TABLE IF NOT EXISTS {MARKER_TABLE} (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS topics (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, "
    "partitions INTEGER NOT NULL, retention_ms INTEGER)",
    # end_offset is kept here, not derived from batches, so that retention deleting
    # every batch never hands out an offset twice.
    "CREATE TABLE IF NOT EXISTS partitions (topic_id INTEGER NOT NULL REFERENCES topics(id), "
    "partition INTEGER NOT NULL, start_offset INTEGER NOT NULL, end_offset INTEGER NOT NULL, "
    "PRIMARY KEY (topic_id, partition)) WITHOUT ROWID",
    # The payload comes last: SQLite then reads the header columns of a row without
    # walking the payload's overflow pages.
    "CREATE TABLE IF NOT EXISTS batches (topic_id INTEGER NOT NULL, "
    "partition INTEGER NOT NULL, base_offset INTEGER NOT NULL, count INTEGER NOT NULL, "
    "first_timestamp INTEGER NOT NULL, max_timestamp INTEGER NOT NULL, "
    "message_bytes INTEGER NOT NULL, crc32 INTEGER NOT NULL, payload BLOB NOT NULL)",
    "CREATE UNIQUE INDEX IF NOT EXISTS batches_by_offset "
    "ON batches (topic_id, partition, base_offset)",
)

# Primary result codes (the low byte of an extended code).
_BUSY, _LOCKED, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = 5, 6, 11, 13, 14, 26


def open_log(path: Path, busy_timeout_ms: int, synchronous: str) -> sqlite3.Connection:
    """Open (creating when absent or empty) the lakeforge log at ``path``.

    Refuses, before changing anything in it, a SQLite file that holds other tables.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(
        path, timeout=busy_timeout_ms / 1000, isolation_level=None, check_same_thread=False
    )
    try:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        if tables and MARKER_TABLE not in tables:
            raise DataIntegrityError(
                f"{path} is a SQLite database but not a lakeforge log "
                f"(it holds {', '.join(sorted(tables)[:5])})",
                hint="point the bus at another file; lakeforge will not write into it",
            )
        if not tables:
            db.execute(f"PRAGMA page_size = {_PAGE_SIZE}")
        mode = _switch_to_wal(db, busy_timeout_ms)
        if mode != "wal":
            raise ConfigError(
                f"{path} cannot be opened in WAL mode (SQLite chose {mode!r})",
                hint="keep the log on a local disk; network file systems lack the shared "
                "memory WAL needs",
            )
        db.execute(f"PRAGMA synchronous = {synchronous}")
        db.execute(f"PRAGMA wal_autocheckpoint = {_CHECKPOINT_PAGES}")
        if not tables:
            # Another process may be creating it too: IF NOT EXISTS and OR IGNORE make
            # the second creation a no-op. An existing log is opened without a write.
            with transaction(db):
                for statement in _TABLES:
                    db.execute(statement)
                db.execute(
                    f"INSERT OR IGNORE INTO {MARKER_TABLE} VALUES ('format', ?)",
                    (FORMAT_VERSION,),
                )
        (version,) = db.execute(f"SELECT value FROM {MARKER_TABLE} WHERE key = 'format'").fetchone()
        if version != FORMAT_VERSION:
            raise TerminalError(
                f"{path} is a lakeforge log of format {version}; this lakeforge reads "
                f"format {FORMAT_VERSION}",
                hint="use the lakeforge version that wrote it",
            )
    except BaseException:
        db.close()
        raise
    return db


def _switch_to_wal(db: sqlite3.Connection, busy_timeout_ms: int) -> str:
    # When processes open a new log at the same moment, SQLite refuses all but one
    # switch to WAL at once, without waiting (waiting could deadlock): retry until
    # the busy timeout is spent, as it would have waited.
    deadline = time.monotonic() + busy_timeout_ms / 1000
    pause = 0.001
    while True:
        try:
            return str(db.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        except sqlite3.OperationalError as error:
            busy = (getattr(error, "sqlite_errorcode", 0) or 0) & 0xFF == _BUSY
            if not busy or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


@contextlib.contextmanager
def transaction(db: sqlite3.Connection, mode: str = "IMMEDIATE") -> Iterator[None]:
    """Run the block in one transaction: all of it commits, or none of it.

    ``IMMEDIATE`` takes the write lock up front, so that a transaction never has to
    upgrade a read into a write, which SQLite would refuse without waiting.
    """
    db.execute(f"BEGIN {mode}")
    try:
        yield
    except BaseException:
        # The error that got us here is the one to report, not a failed rollback.
        with contextlib.suppress(sqlite3.Error):
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def translate(error: sqlite3.Error, path: Path, doing: str, busy_timeout_ms: int) -> LakeforgeError:
    """Return the lakeforge error for a SQLite error met while ``doing`` to ``path``."""
    code = (getattr(error, "sqlite_errorcode", None) or 0) & 0xFF
    if code in (_BUSY, _LOCKED):
        return TransientError(
            f"the bus log {path} stayed locked by another process for "
            f"{busy_timeout_ms} ms while {doing}",
            hint="retry; if it persists, find the process holding a long transaction on "
            "the file, or raise busy_timeout_ms",
        )
    if code == _NOTADB:
        return DataIntegrityError(
            f"{path} is not a lakeforge log: SQLite cannot read it as a database ({error})",
            hint="point the bus at another file, or move this one away",
        )
    if code == _CORRUPT:
        return DataIntegrityError(
            f"the bus log {path} is corrupt: SQLite reports {error!s} while {doing}",
            hint="restore it from a backup, or move it away to start an empty log "
            "(the offsets stored in the lake tables will then be ahead of it)",
        )
    if code == _CANTOPEN:
        return ConfigError(
            f"cannot open the bus log {path} ({error})",
            hint="check that its folder exists and is writable",
        )
    # SQLite says "disk I/O error" when a full disk keeps it from making its journal.
    if code == _FULL or _no_space_left(path):
        return TerminalError(
            f"no space left on the device: the disk holding {path} is full while {doing}",
            hint="free space there and run the command again; nothing half-written is visible",
        )
    return TerminalError(f"SQLite failed on {path} while {doing}: {error}")


def _no_space_left(path: object) -> bool:
    try:
        return shutil.disk_usage(os.path.dirname(os.path.abspath(str(path)))).free < 65_536
    except OSError:
        return False


def bounds(db: sqlite3.Connection, where: tuple[int, int]) -> tuple[int, int]:
    """Return a partition's start and end offsets."""
    start, end = db.execute(
        "SELECT start_offset, end_offset FROM partitions WHERE topic_id = ? AND partition = ?",
        where,
    ).fetchone()
    return int(start), int(end)


def insert_batch(
    db: sqlite3.Connection, where: tuple[int, int], header: BatchHeader, payload: pa.Buffer
) -> None:
    """Store a batch and move the partition's end offset past it; call in a transaction."""
    db.execute(
        "INSERT INTO batches (topic_id, partition, base_offset, count, first_timestamp, "
        "max_timestamp, message_bytes, crc32, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (*where, *header, payload),
    )
    db.execute(
        "UPDATE partitions SET end_offset = ? WHERE topic_id = ? AND partition = ?",
        (header.base_offset + header.message_count, *where),
    )


def batch_headers(
    db: sqlite3.Connection,
    where: tuple[int, int],
    first: int,
    max_records: int,
    max_bytes: int | None,
) -> list[BatchHeader]:
    """Return the headers of the batch holding offset ``first`` and the ones after it.

    Only as many as give ``max_records`` messages, or ``max_bytes`` of them, are read.
    """
    # The header columns come before the payload in each row, so this never reads a
    # payload's overflow pages; the cursor stops as soon as it has enough.
    cursor = db.execute(
        "SELECT base_offset, count, first_timestamp, max_timestamp, message_bytes, crc32 "
        "FROM batches WHERE topic_id = ?1 AND partition = ?2 AND base_offset >= ("
        "  SELECT base_offset FROM batches WHERE topic_id = ?1 AND partition = ?2"
        "  AND base_offset <= ?3 ORDER BY base_offset DESC LIMIT 1"
        ") ORDER BY base_offset",
        (*where, first),
    )
    found: list[BatchHeader] = []
    # Bytes of the batches after the first, which `first` may cut into.
    bytes_after_first = 0
    for row in cursor:
        header = BatchHeader(*row)
        bytes_after_first += header.message_bytes if found else 0
        found.append(header)
        if header.base_offset + header.message_count >= first + max_records:
            break
        if max_bytes is not None and bytes_after_first >= max_bytes:
            break
    cursor.close()
    return found


def payload(db: sqlite3.Connection, where: tuple[int, int], base_offset: int) -> bytes:
    """Return the payload of the batch at ``base_offset``."""
    (blob,) = db.execute(
        "SELECT payload FROM batches WHERE topic_id = ? AND partition = ? AND base_offset = ?",
        (*where, base_offset),
    ).fetchone()
    return bytes(blob)


def delete_expired(db: sqlite3.Connection, where: tuple[int, int], cutoff_ms: int) -> int:
    """Delete the leading batches whose newest message is older than ``cutoff_ms``.

    Moves the partition's start offset past them and returns how many messages went.
    Call in a transaction.
    """
    kept = db.execute(
        "SELECT base_offset FROM batches WHERE topic_id = ? AND partition = ? "
        "AND max_timestamp >= ? ORDER BY base_offset LIMIT 1",
        (*where, cutoff_ms),
    ).fetchone()
    keep_from = kept[0] if kept else bounds(db, where)[1]
    (count,) = db.execute(
        "SELECT COALESCE(SUM(count), 0) FROM batches WHERE topic_id = ? AND partition = ? "
        "AND base_offset < ?",
        (*where, keep_from),
    ).fetchone()
    if count:
        db.execute(
            "DELETE FROM batches WHERE topic_id = ? AND partition = ? AND base_offset < ?",
            (*where, keep_from),
        )
        db.execute(
            "UPDATE partitions SET start_offset = ? WHERE topic_id = ? AND partition = ?",
            (keep_from, *where),
        )
    return int(count)
