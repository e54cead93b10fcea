"""The embedded log refuses damaged or foreign files and never serves corrupt batches."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import pyarrow as pa
import pytest

from lakeforge.bus import TopicSpec
from lakeforge.bus.embedded import EmbeddedLog
from lakeforge.errors import DataIntegrityError, TransientError


def _log_with_three_batches(path: Path, **settings: object) -> None:
    with EmbeddedLog(path, **settings) as log:  # type: ignore[arg-type]
        log.create_topic(TopicSpec("trades", partitions=2))
        for first in (0, 10, 20):
            values = [b"MARKER-%04d" % i + b"." * 50 for i in range(first, first + 10)]
            log.append("trades", 1, pa.table({"value": values}))


def _rewrite_batch(path: Path, base_offset: int, sql: str, *params: object) -> None:
    with sqlite3.connect(path) as raw:
        raw.execute(f"UPDATE batches SET {sql} WHERE base_offset = ?", (*params, base_offset))


def test_a_flipped_payload_byte_is_reported_with_topic_partition_and_offsets(
    tmp_path: Path,
) -> None:
    path = tmp_path / "log.db"
    _log_with_three_batches(path)
    with sqlite3.connect(path) as raw:
        (payload,) = raw.execute("SELECT payload FROM batches WHERE base_offset = 10").fetchone()
    damaged = bytearray(payload)
    damaged[len(damaged) // 2] ^= 0x01
    _rewrite_batch(path, 10, "payload = ?", bytes(damaged))

    with EmbeddedLog(path) as log:
        with pytest.raises(DataIntegrityError) as raised:
            log.fetch("trades", 1, 12, 5)
        message = str(raised.value)
        assert "trades[1]" in message
        assert "offsets 10 to 19" in message
        assert str(path) in message
        assert "CRC-32" in message
        # A fetch that reaches the damaged batch fails too, rather than stopping short.
        with pytest.raises(DataIntegrityError):
            log.fetch("trades", 1, 5, 10)
        # The batches around it still read.
        assert log.fetch("trades", 1, 0, 10).count == 10
        assert log.fetch("trades", 1, 20, 10).count == 10


def test_a_changed_batch_header_fails_the_check_too(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    _log_with_three_batches(path)
    _rewrite_batch(path, 20, "first_timestamp = first_timestamp + 1")
    with EmbeddedLog(path) as log, pytest.raises(DataIntegrityError, match="offsets 20 to 29"):
        log.fetch("trades", 1, 20, 10)


def test_a_flipped_byte_in_the_file_is_caught(tmp_path: Path) -> None:
    # What a failing disk does: SQLite itself checksums nothing.
    path = tmp_path / "log.db"
    _log_with_three_batches(path, compression=None)
    data = bytearray(path.read_bytes())  # closed, so every batch is in the main file
    where = data.index(b"MARKER-0015")
    data[where + 8] ^= 0x04
    path.write_bytes(bytes(data))
    with EmbeddedLog(path) as log, pytest.raises(DataIntegrityError, match="offsets 10 to 19"):
        log.fetch("trades", 1, 0, 30)


def test_a_missing_batch_is_reported_not_skipped(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    _log_with_three_batches(path)
    with sqlite3.connect(path) as raw:
        raw.execute("DELETE FROM batches WHERE base_offset = 10")
    with EmbeddedLog(path) as log, pytest.raises(DataIntegrityError, match="offset 10 of"):
        log.fetch("trades", 1, 0, 30)


def test_a_file_that_is_not_sqlite_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    content = b"these are my notes, not a database\n" * 200
    path.write_bytes(content)
    with pytest.raises(DataIntegrityError, match=r"notes.txt is not a lakeforge log"):
        EmbeddedLog(path).topics()
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_another_applications_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE users (id INTEGER)")
    with pytest.raises(
        DataIntegrityError, match=r"app.db is a SQLite database but not a lakeforge"
    ):
        EmbeddedLog(path).create_topic(TopicSpec("trades", partitions=1))
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        tables = raw.execute("SELECT name FROM sqlite_master").fetchall()
        assert tables == [("users",)]


def test_a_damaged_sqlite_file_is_reported_as_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    _log_with_three_batches(path)
    data = bytearray(path.read_bytes())
    data[100:65536] = b"\xa5" * (65536 - 100)  # page 1, where SQLite keeps its schema
    path.write_bytes(bytes(data))
    with pytest.raises(DataIntegrityError, match=r"log.db is corrupt"):
        EmbeddedLog(path).topics()


def test_a_log_locked_longer_than_busy_timeout_raises_a_transient_error(
    tmp_path: Path,
) -> None:
    path = tmp_path / "log.db"
    log = EmbeddedLog(path, busy_timeout_ms=50)
    log.create_topic(TopicSpec("trades", partitions=1))
    log.append("trades", 0, pa.table({"value": [b"a"]}))
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process in the middle of a long write
    try:
        with pytest.raises(TransientError, match=r"locked .* 50 ms while appending") as raised:
            log.append("trades", 0, pa.table({"value": [b"b"]}))
        assert raised.value.transient
        assert log.fetch("trades", 0, 0, 10).count == 1  # readers never wait for writers
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert log.append("trades", 0, pa.table({"value": [b"b"]})) == 1
    log.close()


def test_opening_a_new_log_waits_for_another_process_creating_it(tmp_path: Path) -> None:
    # A process holding the write lock of a new file makes SQLite refuse, without
    # waiting, to switch it to WAL; opening must wait as for any other lock.
    path = tmp_path / "log.db"
    creator = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    creator.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.2, creator.execute, args=("ROLLBACK",))
    release.start()
    try:
        with EmbeddedLog(path, busy_timeout_ms=5_000) as log:
            log.create_topic(TopicSpec("trades", partitions=1))
            assert log.end_offsets("trades") == {0: 0}
    finally:
        release.join()
        creator.close()


def test_a_failed_append_leaves_nothing_behind(tmp_path: Path) -> None:
    log = EmbeddedLog(tmp_path / "log.db")
    log.create_topic(TopicSpec("trades", partitions=1))
    with pytest.raises(ValueError, match="needs a 'value' column"):
        log.append("trades", 0, pa.table({"payload": [b"x"]}))
    with pytest.raises(ValueError, match="'value' column is int64"):
        log.append("trades", 0, pa.table({"value": [1, 2]}))
    with pytest.raises(ValueError, match="nothing else"):
        log.append("trades", 0, pa.table({"value": [b"x"], "headers": [b"h"]}))
    assert log.end_offsets("trades") == {0: 0}
    with sqlite3.connect(log.path) as raw:
        assert raw.execute("SELECT count(*) FROM batches").fetchone() == (0,)
    log.close()


def test_compression_is_used_only_where_it_pays(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    with EmbeddedLog(path, compression="lz4") as log:
        log.create_topic(TopicSpec("trades", partitions=2))
        log.append("trades", 0, pa.table({"value": [b"AAPL,187.25,100,NASDAQ"] * 5000}))
        log.append("trades", 1, pa.table({"value": [os.urandom(60) for _ in range(5000)]}))
        assert log.fetch("trades", 0, 4999, 1).records["value"].to_pylist() == [
            b"AAPL,187.25,100,NASDAQ"
        ]
    with sqlite3.connect(path) as raw:
        sizes = dict(
            raw.execute("SELECT partition, length(payload) * 1.0 / message_bytes FROM batches")
        )
    assert sizes[0] < 0.2  # repetitive values shrink
    assert 1.0 < sizes[1] < 1.2  # random ones are stored as they are, plus offsets
