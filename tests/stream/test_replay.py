"""Replaying dead letters sends each one once, in order, even after a crash in the middle."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from lakeforge.bus.base import TopicSpec
from lakeforge.bus.embedded import EmbeddedLog
from lakeforge.stream import replay as replaying
from lakeforge.stream.replay import Letter, ReplayLedger, chunks, replay


def setup(tmp_path: Path) -> tuple[EmbeddedLog, ReplayLedger, list[Letter]]:
    bus = EmbeddedLog(tmp_path / "log.db")
    bus.create_topic(TopicSpec("t", 2))
    letters = [Letter("t", 1, offset, None, f"bad-{offset}".encode()) for offset in (3, 7, 9)]
    return bus, ReplayLedger(tmp_path / "replays.db"), letters


def values(bus: EmbeddedLog) -> list[bytes]:
    end = bus.end_offsets("t")[1]
    values: list[bytes] = []
    offset = 0
    while offset < end:
        fetched = bus.fetch("t", 1, offset, end - offset)
        values += fetched.records["value"].to_pylist()
        offset = fetched.next_offset
    return values


def test_replay_twice_sends_once(tmp_path: Path) -> None:
    bus, ledger, letters = setup(tmp_path)
    assert replay(bus, ledger, letters) == 3
    assert replay(bus, ledger, letters) == 0
    assert values(bus) == [b"bad-3", b"bad-7", b"bad-9"]
    assert set(ledger.status("t").values()) == {"done"}


def test_crash_after_append_before_done_is_not_resent(tmp_path: Path) -> None:
    bus, ledger, letters = setup(tmp_path)
    # What a crash leaves: the letters marked pending, then appended, never marked done.
    ledger.mark("t", 1, [3, 7, 9], "pending", bus.end_offsets("t")[1])
    bus.append("t", 1, pa.table({"value": pa.array([b"bad-3", b"bad-7", b"bad-9"])}))
    assert replay(bus, ledger, letters) == 0
    assert values(bus) == [b"bad-3", b"bad-7", b"bad-9"]
    assert set(ledger.status("t").values()) == {"done"}


def test_crash_before_append_is_sent_on_the_next_replay(tmp_path: Path) -> None:
    bus, ledger, letters = setup(tmp_path)
    ledger.mark("t", 1, [3, 7, 9], "pending", bus.end_offsets("t")[1])
    assert replay(bus, ledger, letters) == 3
    assert values(bus) == [b"bad-3", b"bad-7", b"bad-9"]


def ten_letters() -> list[Letter]:
    return [Letter("t", 1, offset, b"k", f"bad-{offset}".encode()) for offset in range(10)]


def test_chunks_hold_one_partition_and_at_most_rows_and_bytes() -> None:
    letters = [Letter("t", p, o, None, b"x" * size) for p, o, size in [
        (0, 1, 4), (0, 2, 4), (0, 3, 4), (0, 4, 9), (0, 5, 1), (1, 1, 1), (1, 2, 1), (1, 3, 1),
    ]]  # fmt: skip
    chunked = [[(c.partition, c.offset) for c in chunk] for chunk in chunks(letters, 2, 8)]
    assert chunked == [[(0, 1), (0, 2)], [(0, 3)], [(0, 4)], [(0, 5)], [(1, 1), (1, 2)], [(1, 3)]]


def test_a_replay_in_chunks_keeps_offset_order(tmp_path: Path) -> None:
    bus, ledger, _ = setup(tmp_path)
    assert replay(bus, ledger, ten_letters(), rows=3) == 10
    assert replay(bus, ledger, ten_letters(), rows=3) == 0
    assert values(bus) == [f"bad-{offset}".encode() for offset in range(10)]


def test_a_crash_in_the_middle_of_chunks_resends_nothing(tmp_path: Path) -> None:
    bus, ledger, _ = setup(tmp_path)
    letters = ten_letters()
    assert replay(bus, ledger, letters[:3], rows=3) == 3  # the first chunk went through
    # The second chunk was marked pending and appended, then the process died.
    ledger.mark("t", 1, [3, 4, 5], "pending", bus.end_offsets("t")[1])
    bus.append("t", 1, pa.table({"value": pa.array([b"bad-3", b"bad-4", b"bad-5"])}))
    assert replay(bus, ledger, letters, rows=3) == 4
    assert values(bus) == [f"bad-{offset}".encode() for offset in range(10)]
    assert ledger.statuses("t", 1, list(range(12))) == dict.fromkeys(range(10), "done")


def test_a_crashed_replay_is_found_in_the_log_a_read_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(replaying, "LOG_READ_ROWS", 2)
    bus, ledger, letters = setup(tmp_path)
    end = bus.end_offsets("t")[1]
    ledger.mark("t", 1, [3, 7, 9], "pending", end)
    # Other messages arrived around the crashed replay's append: 23 of them in all.
    others = [f"other-{n}".encode() for n in range(10)]
    bus.append("t", 1, pa.table({"value": pa.array(others)}))
    bus.append("t", 1, pa.table({"value": pa.array([b"bad-3", b"bad-7"])}))
    bus.append("t", 1, pa.table({"value": pa.array(others)}))
    assert replay(bus, ledger, letters) == 1  # bad-9 never reached the log
    assert values(bus) == [*others, b"bad-3", b"bad-7", *others, b"bad-9"]
