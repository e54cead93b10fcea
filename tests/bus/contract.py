"""The behaviour every Bus must have: one suite, run against every backend.

A backend's test module subclasses :class:`BusContract` and provides the fixture
``bus_factory``: a callable that opens a new client of the same storage each time it is
called (the same SQLite file, the same Kafka cluster). It may override
``bus_capabilities`` to declare what it supports beyond the core. Tests use fresh topic
names and never assume the bus is empty, so a long-lived cluster can run them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import lakeforge
from lakeforge.bus import RECORD_SCHEMA, Bus, TopicSpec, partitions_for_keys, produce
from lakeforge.bus.base import murmur2
from lakeforge.errors import ConfigError, NotFoundError

BusFactory = Callable[[], Bus]
HOUR_MS = 3_600_000


@dataclass(frozen=True)
class BusCapabilities:
    """What a backend supports beyond the core contract."""

    #: A fetch gives exactly min(max_records, available) messages and cuts exactly at
    #: max_bytes; without it a fetch may give fewer, and callers fetch again.
    exact_fetches: bool = False
    #: enforce_retention() deletes expired messages when called (a Kafka broker deletes
    #: whole segments on its own schedule).
    retention_on_demand: bool = False
    #: The largest value the backend accepts in its default configuration.
    max_value_bytes: int = 1_000_000


def values(first: int, count: int, width: int = 0) -> list[bytes]:
    """Values whose content says their position: ``v0``, ``v1``, ..."""
    return [f"v{i}".encode().ljust(width, b".") for i in range(first, first + count)]


def read_range(bus: Bus, topic: str, partition: int, start: int, stop: int) -> pa.Table:
    """Fetch offsets ``start`` to ``stop`` (exclusive), as many times as it takes."""
    pieces, offset, deadline = [], start, time.monotonic() + 30
    while offset < stop:
        fetched = bus.fetch(topic, partition, offset, stop - offset)
        assert fetched.records.schema.equals(RECORD_SCHEMA)
        assert fetched.count <= stop - offset
        pieces.append(fetched.records)
        offset = fetched.next_offset
        assert time.monotonic() < deadline, f"offsets {offset} to {stop} never arrived"
    table = pa.concat_tables(pieces) if pieces else RECORD_SCHEMA.empty_table()
    assert table.column("offset").to_pylist() == list(range(start, stop))
    return table


class BusContract:
    """Tests every bus must pass; subclass it and provide ``bus_factory``."""

    @pytest.fixture
    def bus_capabilities(self) -> BusCapabilities:
        return BusCapabilities()

    @pytest.fixture
    def bus(self, bus_factory: BusFactory) -> Iterator[Bus]:
        bus = bus_factory()
        yield bus
        bus.close()

    @pytest.fixture
    def topic(self, bus: Bus) -> str:
        name = f"contract-{uuid.uuid4().hex[:12]}"
        bus.create_topic(TopicSpec(name, partitions=3))
        return name

    # Topics

    def test_a_created_topic_is_listed_with_empty_partitions(self, bus: Bus, topic: str) -> None:
        assert bus.topics()[topic].partitions == 3
        assert bus.end_offsets(topic) == {0: 0, 1: 0, 2: 0}
        assert bus.start_offsets(topic) == {0: 0, 1: 0, 2: 0}

    def test_creating_a_topic_again_changes_nothing(self, bus: Bus, topic: str) -> None:
        bus.append(topic, 1, pa.table({"value": values(0, 2)}))
        bus.create_topic(TopicSpec(topic, partitions=3))
        assert bus.topics()[topic].partitions == 3
        assert bus.end_offsets(topic) == {0: 0, 1: 2, 2: 0}

    def test_another_partition_count_is_refused(self, bus: Bus, topic: str) -> None:
        with pytest.raises(ConfigError, match=rf"{topic}.* 3 partitions, not 5"):
            bus.create_topic(TopicSpec(topic, partitions=5))

    def test_another_client_sees_topics_and_messages(
        self, bus: Bus, topic: str, bus_factory: BusFactory
    ) -> None:
        bus.append(topic, 2, pa.table({"value": values(0, 4)}))
        with bus_factory() as other:
            assert other.topics()[topic].partitions == 3
            assert other.end_offsets(topic)[2] == 4
            assert read_range(other, topic, 2, 0, 4).column("value").to_pylist() == values(0, 4)

    # Appending

    def test_appends_get_increasing_contiguous_offsets(self, bus: Bus, topic: str) -> None:
        firsts = [bus.append(topic, 0, pa.table({"value": values(0, n)})) for n in (3, 1, 5)]
        assert firsts == [0, 3, 4]
        assert bus.end_offsets(topic) == {0: 9, 1: 0, 2: 0}

    def test_an_empty_batch_stores_nothing(self, bus: Bus, topic: str) -> None:
        bus.append(topic, 0, pa.table({"value": values(0, 2)}))
        empty = pa.table({"value": pa.array([], pa.binary())})
        assert bus.append(topic, 0, empty) == 2
        assert bus.end_offsets(topic)[0] == 2
        assert bus.append(topic, 0, pa.table({"value": values(2, 1)})) == 2

    def test_keys_may_be_null_or_absent(self, bus: Bus, topic: str) -> None:
        bus.append(topic, 0, pa.table({"key": [b"k0", None, b""], "value": values(0, 3)}))
        bus.append(topic, 0, pa.table({"key": pa.array([None], pa.binary()), "value": [b"x"]}))
        bus.append(topic, 0, pa.table({"value": [b"y"]}))
        keys = read_range(bus, topic, 0, 0, 5).column("key").to_pylist()
        assert keys == [b"k0", None, b"", None, None]

    def test_timestamps_are_kept_or_stamped_at_append(self, bus: Bus, topic: str) -> None:
        stamps = pa.array([1_700_000_000_123, 1_700_000_000_456], pa.timestamp("ms", tz="UTC"))
        bus.append(topic, 0, pa.table({"value": values(0, 2), "timestamp": stamps}))
        before = time.time_ns() // 1_000_000
        bus.append(topic, 0, pa.table({"value": values(2, 1)}))
        after = time.time_ns() // 1_000_000
        read = read_range(bus, topic, 0, 0, 3).column("timestamp").cast(pa.int64()).to_pylist()
        assert read[:2] == [1_700_000_000_123, 1_700_000_000_456]
        assert before - 1000 <= read[2] <= after + 1000

    def test_big_values_come_back_whole(
        self, bus: Bus, topic: str, bus_capabilities: BusCapabilities
    ) -> None:
        size = min(bus_capabilities.max_value_bytes - 1024, 4 << 20)
        big = [bytes([i]) * size + os.urandom(64) for i in range(3)]
        bus.append(topic, 1, pa.table({"value": big}))
        assert read_range(bus, topic, 1, 0, 3).column("value").to_pylist() == big

    # Fetching

    @pytest.mark.parametrize(
        ("offset", "max_records"), [(0, 15), (3, 4), (4, 1), (5, 7), (2, 11), (12, 100), (14, 1)]
    )
    def test_fetch_gives_exact_ranges_across_batches(
        self, bus: Bus, topic: str, bus_capabilities: BusCapabilities, offset: int, max_records: int
    ) -> None:
        for first, count in ((0, 5), (5, 7), (12, 3)):
            bus.append(topic, 0, pa.table({"value": values(first, count)}))
        stop = min(15, offset + max_records)
        fetched = bus.fetch(topic, 0, offset, max_records)
        assert fetched.records.schema.equals(RECORD_SCHEMA)
        assert (fetched.topic, fetched.partition) == (topic, 0)
        if bus_capabilities.exact_fetches:
            assert fetched.count == stop - offset
            assert fetched.next_offset == stop
        got = fetched.records.column("value").to_pylist()
        assert got == values(offset, fetched.count)
        assert fetched.records.column("offset").to_pylist() == list(
            range(offset, offset + fetched.count)
        )
        assert read_range(bus, topic, 0, offset, stop).column("value").to_pylist() == values(
            offset, stop - offset
        )

    def test_fetch_never_gives_more_than_max_records(self, bus: Bus, topic: str) -> None:
        bus.append(topic, 0, pa.table({"value": values(0, 50)}))
        for max_records in (1, 7, 49):
            assert bus.fetch(topic, 0, 0, max_records).count <= max_records

    def test_fetch_at_or_past_the_end_is_empty(self, bus: Bus, topic: str) -> None:
        bus.append(topic, 0, pa.table({"value": values(0, 3)}))
        for offset in (3, 1000):
            fetched = bus.fetch(topic, 0, offset, 10)
            assert fetched.count == 0
            assert fetched.next_offset == offset
            assert fetched.records.schema.equals(RECORD_SCHEMA)
        assert bus.fetch(topic, 1, 0, 10).count == 0

    def test_max_bytes_cuts_a_fetch_but_always_gives_progress(
        self, bus: Bus, topic: str, bus_capabilities: BusCapabilities
    ) -> None:
        bus.append(topic, 0, pa.table({"value": values(0, 10, width=100)}))
        tiny = bus.fetch(topic, 0, 0, 10, max_bytes=10)
        assert tiny.count >= 1
        assert tiny.next_offset == tiny.count
        if bus_capabilities.exact_fetches:
            assert bus.fetch(topic, 0, 0, 10, max_bytes=250).count == 2
            assert bus.fetch(topic, 0, 3, 10, max_bytes=10_000).count == 7

    # Retention

    def test_fetch_below_the_start_begins_at_the_first_message_held(
        self, bus: Bus, bus_capabilities: BusCapabilities
    ) -> None:
        if not bus_capabilities.retention_on_demand:
            pytest.skip("the bus does not delete expired messages on demand")
        topic = self._topic_with_expired_batch(bus)
        assert bus.enforce_retention() >= 4
        assert bus.start_offsets(topic) == {0: 4}
        assert bus.end_offsets(topic) == {0: 7}
        fetched = bus.fetch(topic, 0, 0, 10)
        assert fetched.records.column("offset").to_pylist() == [4, 5, 6]
        assert fetched.next_offset == 7

    def test_retention_keeps_offsets_across_clients_and_full_deletion(
        self, bus: Bus, bus_factory: BusFactory, bus_capabilities: BusCapabilities
    ) -> None:
        if not bus_capabilities.retention_on_demand:
            pytest.skip("the bus does not delete expired messages on demand")
        topic = self._topic_with_expired_batch(bus, fresh_too=False)
        bus.enforce_retention()
        with bus_factory() as other:
            assert other.start_offsets(topic) == {0: 4}
            assert other.end_offsets(topic) == {0: 4}
            assert other.fetch(topic, 0, 0, 10).next_offset == 4
            # Offsets are never handed out twice, even once every message is gone.
            assert other.append(topic, 0, pa.table({"value": values(4, 1)})) == 4

    @staticmethod
    def _topic_with_expired_batch(bus: Bus, fresh_too: bool = True) -> str:
        topic = f"contract-retention-{uuid.uuid4().hex[:12]}"
        bus.create_topic(TopicSpec(topic, partitions=1, retention_ms=HOUR_MS))
        old = time.time_ns() // 1_000_000 - 3 * HOUR_MS
        stamps = pa.array([old] * 4, pa.timestamp("ms", tz="UTC"))
        bus.append(topic, 0, pa.table({"value": values(0, 4), "timestamp": stamps}))
        if fresh_too:
            bus.append(topic, 0, pa.table({"value": values(4, 3)}))
        return topic

    # Errors

    def test_an_unknown_topic_is_named_with_the_known_ones(self, bus: Bus, topic: str) -> None:
        calls: list[Callable[[], object]] = [
            lambda: bus.fetch("no-such-topic", 0, 0, 1),
            lambda: bus.append("no-such-topic", 0, pa.table({"value": [b"x"]})),
            lambda: bus.end_offsets("no-such-topic"),
            lambda: bus.start_offsets("no-such-topic"),
        ]
        for call in calls:
            with pytest.raises(NotFoundError) as raised:
                call()
            assert "no-such-topic" in str(raised.value)
            assert topic in str(raised.value)

    @pytest.mark.parametrize("partition", [3, -1, 99])
    def test_an_unknown_partition_is_named(self, bus: Bus, topic: str, partition: int) -> None:
        with pytest.raises(NotFoundError, match=rf"{topic}.*partition {partition}\b"):
            bus.fetch(topic, partition, 0, 1)
        with pytest.raises(NotFoundError, match=rf"partition {partition}\b"):
            bus.append(topic, partition, pa.table({"value": [b"x"]}))

    # Producing by key

    def test_produce_sends_each_key_to_its_partition_in_order(self, bus: Bus, topic: str) -> None:
        rng = np.random.default_rng(3)
        keys = [f"sym-{k}".encode() for k in rng.integers(0, 20, size=500)]
        sent = values(0, 500)
        ranges = produce(bus, topic, pa.array(sent, pa.binary()), pa.array(keys), 3)
        expected = partitions_for_keys(keys, 3)
        for partition in range(3):
            mine = [(k, v) for k, v, p in zip(keys, sent, expected, strict=True) if p == partition]
            if not mine:
                assert partition not in ranges
                continue
            first, last = ranges[partition]
            assert last - first + 1 == len(mine)
            got = read_range(bus, topic, partition, first, last + 1)
            assert list(zip(got["key"].to_pylist(), got["value"].to_pylist(), strict=True)) == mine

    def test_produce_without_keys_uses_partition_0(self, bus: Bus, topic: str) -> None:
        assert produce(bus, topic, pa.array(values(0, 3), pa.binary()), None, 3) == {0: (0, 2)}
        assert produce(bus, topic, pa.array([], pa.binary()), None, 3) == {}

    def test_partitions_for_keys_is_kafka_murmur2_and_stable_across_processes(self) -> None:
        keys = [b"AAPL", b"MSFT", b"NVDA", None, b"", b"sensor-0042", "café".encode()]
        # Golden values: changing them moves every key of every existing topic.
        assert partitions_for_keys(keys, 12).tolist() == [9, 6, 5, 0, 9, 1, 6]
        assert [(murmur2(k) & 0x7FFFFFFF) % 12 for k in keys if k is not None] == [9, 6, 5, 9, 1, 6]
        code = (
            "from lakeforge.bus import partitions_for_keys; import sys; "
            f"print(partitions_for_keys({keys!r}, 12).tolist())"
        )
        root = str(Path(lakeforge.__file__).resolve().parents[1])
        for seed in ("1", "12345"):
            env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": root}
            out = subprocess.run(
                [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
            )
            assert out.stdout.strip() == "[9, 6, 5, 0, 9, 1, 6]"
