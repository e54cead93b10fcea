"""Replaying dead letters sends each one once, even after a crash in the middle."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from lakeforge.bus.base import TopicSpec
from lakeforge.bus.embedded import EmbeddedLog
from lakeforge.stream.replay import Letter, ReplayLedger, replay


def setup(tmp_path: Path) -> tuple[EmbeddedLog, ReplayLedger, list[Letter]]:
    bus = EmbeddedLog(tmp_path / "log.db")
    bus.create_topic(TopicSpec("t", 2))
    letters = [Letter("t", 1, offset, None, f"bad-{offset}".encode()) for offset in (3, 7, 9)]
    return bus, ReplayLedger(tmp_path / "replays.db"), letters


def values(bus: EmbeddedLog) -> list[bytes]:
    end = bus.end_offsets("t")[1]
    values: list[bytes] = bus.fetch("t", 1, 0, max(end, 1)).records["value"].to_pylist()
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
