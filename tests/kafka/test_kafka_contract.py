"""The bus contract and Kafka-specific behaviour, on a real Apache Kafka broker."""

import time
import uuid

import pyarrow as pa
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from lakeforge.bus import TopicSpec, open_bus
from lakeforge.bus.kafka import KafkaBus
from lakeforge.errors import ConfigError, NotFoundError, TransientError
from tests.bus.contract import BusCapabilities, BusContract, BusFactory, read_range, values
from tests.kafka_broker import free_port


class TestKafkaBus(BusContract):
    @pytest.fixture
    def bus_factory(self, kafka_broker: str) -> BusFactory:
        return lambda: KafkaBus(kafka_broker, request_timeout_s=15)

    @pytest.fixture
    def bus_capabilities(self) -> BusCapabilities:
        # Fetches are exact on this broker, but one cut short by request_timeout_s returns
        # what it has: exactness is not promised.
        # The broker deletes whole segments on its own schedule, and its default
        # message.max.bytes (1 MiB) bounds a record batch, values included.
        return BusCapabilities(
            exact_fetches=False, retention_on_demand=False, max_value_bytes=1_000_000
        )


@pytest.fixture
def kafka_bus(kafka_broker: str) -> KafkaBus:
    return KafkaBus(kafka_broker, request_timeout_s=15)


def fresh_topic(bus: KafkaBus, partitions: int = 1) -> str:
    name = f"kafka-{uuid.uuid4().hex[:12]}"
    bus.create_topic(TopicSpec(name, partitions))
    return name


def test_an_unreachable_broker_is_a_quick_transient_error() -> None:
    address = f"127.0.0.1:{free_port()}"
    bus = KafkaBus(address, request_timeout_s=2)
    started = time.monotonic()
    with pytest.raises(TransientError, match=rf"{address}.*\n.*start Kafka") as raised:
        bus.end_offsets("anything")
    assert time.monotonic() - started < 5
    assert raised.value.transient
    with pytest.raises(TransientError, match=address):
        bus.append("anything", 0, pa.table({"value": [b"x"]}))


def test_an_unknown_topic_is_not_found(kafka_bus: KafkaBus) -> None:
    with pytest.raises(NotFoundError, match="'no-such-kafka-topic' does not exist in Kafka"):
        kafka_bus.fetch("no-such-kafka-topic", 0, 0, 1)
    with pytest.raises(NotFoundError):
        kafka_bus.append("no-such-kafka-topic", 0, pa.table({"value": [b"x"]}))
    # The broker auto-creates topics by default; the bus must never ask it to.
    assert "no-such-kafka-topic" not in kafka_bus.topics()


def test_open_bus_finds_kafka(kafka_broker: str) -> None:
    with open_bus("kafka", bootstrap_servers=kafka_broker) as bus:
        assert isinstance(bus, KafkaBus)


def test_retention_is_set_on_the_topic(kafka_bus: KafkaBus) -> None:
    name = f"kafka-{uuid.uuid4().hex[:12]}"
    kafka_bus.create_topic(TopicSpec(name, 2, retention_ms=3_600_000))
    assert kafka_bus.topics()[name] == TopicSpec(name, 2, 3_600_000)
    kafka_bus.create_topic(TopicSpec(name, 2))
    assert kafka_bus.topics()[name] == TopicSpec(name, 2, None)


def test_a_plain_consumer_reads_what_the_bus_appends(
    kafka_bus: KafkaBus, kafka_broker: str
) -> None:
    topic = fresh_topic(kafka_bus, partitions=2)
    keys = [b"k0", None, b""]
    first = kafka_bus.append(topic, 1, pa.table({"key": keys, "value": values(0, 3)}))
    consumer = Consumer({"bootstrap.servers": kafka_broker, "group.id": "interop-test"})
    try:
        consumer.assign([TopicPartition(topic, 1, first)])
        got: list[tuple[int | None, bytes | None, bytes | None]] = []
        deadline = time.monotonic() + 15
        while len(got) < 3 and time.monotonic() < deadline:
            for message in consumer.consume(3 - len(got), timeout=1):
                assert message.error() is None
                got.append((message.offset(), message.key(), message.value()))
    finally:
        consumer.close()
    assert got == [
        (first + i, k, v) for i, (k, v) in enumerate(zip(keys, values(0, 3), strict=True))
    ]


def test_the_bus_fetches_what_a_plain_producer_writes(
    kafka_bus: KafkaBus, kafka_broker: str
) -> None:
    topic = fresh_topic(kafka_bus)
    producer = Producer({"bootstrap.servers": kafka_broker})
    for i in range(5):
        producer.produce(topic, f"v{i}".encode(), f"key-{i}".encode(), 0, timestamp=1_000 + i)
    assert producer.flush(15) == 0
    records = read_range(kafka_bus, topic, 0, 0, 5)
    assert records["key"].to_pylist() == [f"key-{i}".encode() for i in range(5)]
    assert records["value"].to_pylist() == values(0, 5)
    assert records["timestamp"].cast(pa.int64()).to_pylist() == [1_000 + i for i in range(5)]


def test_sequential_fetches_reuse_the_consumer_position(kafka_bus: KafkaBus) -> None:
    topic = fresh_topic(kafka_bus)
    kafka_bus.append(topic, 0, pa.table({"value": values(0, 300)}))
    offset, got = 0, []
    while offset < 300:
        fetched = kafka_bus.fetch(topic, 0, offset, 64)
        got += fetched.records["value"].to_pylist()
        offset = fetched.next_offset
    assert got == values(0, 300)
    # A jump back re-assigns and reads from there.
    assert kafka_bus.fetch(topic, 0, 10, 2).records["value"].to_pylist()[:1] == [b"v10"]


def test_a_value_too_large_for_kafka_is_a_config_error(kafka_bus: KafkaBus) -> None:
    topic = fresh_topic(kafka_bus)
    with pytest.raises(ConfigError, match="larger than Kafka accepts"):
        kafka_bus.append(topic, 0, pa.table({"value": [b"x" * (2 << 20)]}))
    assert kafka_bus.append(topic, 0, pa.table({"value": [b"fits"]})) == 0
