"""Behaviour of the embedded log beyond the bus contract: retention, validation, threads."""

from __future__ import annotations

import threading
from pathlib import Path

import pyarrow as pa
import pytest

from lakeforge.bus import TopicSpec, produce
from lakeforge.bus.embedded import EmbeddedLog
from lakeforge.errors import ConfigError


class FakeClock:
    """Milliseconds since the epoch, moved by the test."""

    def __init__(self) -> None:
        self.now = 1_000_000

    def __call__(self) -> int:
        return self.now


def _values(count: int) -> pa.Table:
    return pa.table({"value": [b"v%d" % i for i in range(count)]})


def test_retention_deletes_whole_expired_batches_and_survives_reopening(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "log.db"
    log = EmbeddedLog(path, clock=clock)
    log.create_topic(TopicSpec("trades", partitions=2, retention_ms=1_000))
    log.create_topic(TopicSpec("forever", partitions=1))
    log.append("trades", 0, _values(3))  # stamped 1_000_000
    log.append("trades", 1, _values(5))
    log.append("forever", 0, _values(2))
    clock.now += 500
    log.append("trades", 0, _values(2))  # stamped 1_000_500
    clock.now += 800

    assert log.enforce_retention() == 3 + 5  # the batch of 1_000_500 is 800 ms old only
    assert log.start_offsets("trades") == {0: 3, 1: 5}
    assert log.end_offsets("trades") == {0: 5, 1: 5}
    assert log.enforce_retention() == 0
    clock.now += 1_000
    assert log.enforce_retention() == 2
    log.close()

    with EmbeddedLog(path, clock=clock) as reopened:
        assert reopened.start_offsets("trades") == {0: 5, 1: 5}
        assert reopened.end_offsets("trades") == {0: 5, 1: 5}
        assert reopened.start_offsets("forever") == {0: 0}
        assert reopened.append("trades", 0, _values(1)) == 5


def test_retention_deletes_only_a_prefix_of_the_log(tmp_path: Path) -> None:
    # As in Kafka: an old batch behind a fresh one stays, so the log never has a hole.
    clock = FakeClock()
    log = EmbeddedLog(tmp_path / "log.db", clock=clock)
    log.create_topic(TopicSpec("trades", partitions=1, retention_ms=1_000))
    old = pa.array([clock.now - 5_000], pa.timestamp("ms", tz="UTC"))
    log.append("trades", 0, _values(2))
    log.append("trades", 0, pa.table({"value": [b"late"], "timestamp": old}))
    assert log.enforce_retention() == 0
    assert log.fetch("trades", 0, 0, 10).count == 3
    log.close()


def test_creating_a_topic_again_updates_its_retention(tmp_path: Path) -> None:
    log = EmbeddedLog(tmp_path / "log.db")
    log.create_topic(TopicSpec("trades", partitions=2))
    log.create_topic(TopicSpec("trades", partitions=2, retention_ms=60_000))
    assert log.topics()["trades"] == TopicSpec("trades", 2, 60_000)
    log.close()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (TopicSpec("trades!", 1), "not a valid topic name"),
        (TopicSpec("", 1), "not a valid topic name"),
        (TopicSpec("..", 1), "not a valid topic name"),
        (TopicSpec("t" * 250, 1), "not a valid topic name"),
        (TopicSpec("trades", 0), "at least 1 partition"),
        (TopicSpec("trades", 1, retention_ms=0), "retention_ms 0"),
    ],
)
def test_invalid_topics_are_refused(tmp_path: Path, spec: TopicSpec, message: str) -> None:
    with EmbeddedLog(tmp_path / "log.db") as log, pytest.raises(ConfigError, match=message):
        log.create_topic(spec)


def test_fetch_arguments_are_checked(tmp_path: Path) -> None:
    with EmbeddedLog(tmp_path / "log.db") as log:
        log.create_topic(TopicSpec("trades", partitions=1))
        with pytest.raises(ValueError, match="offset >= 0"):
            log.fetch("trades", 0, -1, 10)
        with pytest.raises(ValueError, match="max_records >= 1"):
            log.fetch("trades", 0, 0, 0)


def test_threads_of_one_process_share_the_log(tmp_path: Path) -> None:
    log = EmbeddedLog(tmp_path / "log.db")
    log.create_topic(TopicSpec("trades", partitions=1))
    firsts: list[int] = []

    def append_some() -> None:
        for _ in range(25):
            firsts.append(log.append("trades", 0, _values(4)))
            log.fetch("trades", 0, 0, 50)

    threads = [threading.Thread(target=append_some) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(firsts) == list(range(0, 400, 4))
    log.close()


def test_small_fetches_through_big_batches_read_every_message_once(tmp_path: Path) -> None:
    # Small fetches are served from decoded batches kept in memory; they must still
    # give the same messages as one big fetch.
    log = EmbeddedLog(tmp_path / "log.db")
    log.create_topic(TopicSpec("trades", partitions=1))
    for _ in range(3):
        log.append("trades", 0, pa.table({"value": [b"m%d" % i for i in range(1000)]}))
    whole = log.fetch("trades", 0, 0, 5000).records["value"].to_pylist()
    offset, pieces = 0, []
    while offset < 3000:
        fetched = log.fetch("trades", 0, offset, 37)
        pieces += fetched.records["value"].to_pylist()
        offset = fetched.next_offset
    assert pieces == whole
    log.close()


def test_a_log_in_a_new_folder_is_created(tmp_path: Path) -> None:
    path = tmp_path / "state" / "bus" / "log.db"
    with EmbeddedLog(path) as log:
        log.create_topic(TopicSpec("trades", partitions=1))
    assert path.exists()


def test_produce_refuses_keys_that_do_not_match_values(tmp_path: Path) -> None:
    with EmbeddedLog(tmp_path / "log.db") as log:
        log.create_topic(TopicSpec("trades", partitions=2))
        with pytest.raises(ValueError, match="2 keys for 3 values"):
            produce(log, "trades", pa.array([b"a", b"b", b"c"]), pa.array([b"k", b"k"]), 2)


def test_strings_and_fine_timestamps_are_converted(tmp_path: Path) -> None:
    with EmbeddedLog(tmp_path / "log.db") as log:
        log.create_topic(TopicSpec("trades", partitions=1))
        stamps = pa.array([1_700_000_000_123_456], pa.timestamp("us"))
        batch = pa.table({"key": ["AAPL"], "value": ["187.25"], "timestamp": stamps})
        log.append("trades", 0, batch)
        record = log.fetch("trades", 0, 0, 1).records.to_pylist()[0]
    assert (record["key"], record["value"]) == (b"AAPL", b"187.25")
    assert record["timestamp"].timestamp() == pytest.approx(1_700_000_000.123)


def test_dictionary_keys_go_where_their_values_would(tmp_path: Path) -> None:
    keys = [b"AAPL", b"MSFT", None, b"NVDA", b"AAPL", b"", b"MSFT", None] * 50
    values = pa.array([b"v%d" % i for i in range(len(keys))])
    plain = pa.array(keys, pa.binary())
    coded = pa.chunked_array([plain.dictionary_encode()])  # chunked, as columns come
    stored = []
    for name, given in (("plain", plain), ("dictionary", coded)):
        with EmbeddedLog(tmp_path / f"{name}.db") as log:
            log.create_topic(TopicSpec("trades", partitions=5))
            ranges = produce(log, "trades", values, given, 5)  # type: ignore[arg-type]
            messages = {
                p: log.fetch("trades", p, 0, 1000).records.select(["key", "value"]).to_pylist()
                for p in range(5)
            }
            stored.append((ranges, messages))

    assert stored[0] == stored[1]
    ranges, messages = stored[1]
    assert sum(len(m) for m in messages.values()) == len(keys)
    # null keys go to partition 0, as Kafka's partitioner sends them
    assert [m["key"] for m in messages[0]].count(None) == keys.count(None)
