"""What lakeforge writes to Kafka, Kafka's own tools and Confluent's clients read.

lakeforge produces trades as its producer does (the trades generator, the vectorised
Avro encoder with the Confluent header, keyed partitioning) through KafkaBus; then

* Kafka's console consumer (the Java client, from the broker's own jars) reads every
  message: each at the partition the key chose, with its key and exact bytes;
* confluent-kafka's AvroDeserializer decodes what the console consumer read, finding the
  schema in lakeforge's registry over its REST API.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from lakeforge.bus import TopicSpec, partitions_for_keys, produce
from lakeforge.bus.kafka import KafkaBus
from lakeforge.codec import AvroSchema, confluent_header, encode
from lakeforge.registry.base import value_subject
from lakeforge.registry.http_client import HttpRegistry
from lakeforge.registry.server import RegistryServer
from lakeforge.registry.store import EmbeddedRegistry
from lakeforge.source.base import load_generator
from tests.kafka_broker import KafkaBroker

SCHEMA = Path(__file__).parents[2] / "examples" / "stocks" / "schemas" / "trade.avsc"
TRADES = 400
PARTITIONS = 3
START_US = 1_767_225_600_000_000  # 2026-01-01, UTC


@pytest.fixture
def registry_url() -> Iterator[str]:
    """lakeforge's registry, served over the Confluent REST API on 127.0.0.1."""
    registry = EmbeddedRegistry(":memory:")
    with RegistryServer(registry) as server:
        yield server.url
    registry.close()


def test_kafka_console_consumer_and_confluent_deserializer_read_what_lakeforge_wrote(
    kafka_server: KafkaBroker, registry_url: str
) -> None:
    topic = f"trades-interop-{uuid.uuid4().hex[:8]}"
    schema = AvroSchema.load(SCHEMA)
    # Registered over HTTP, as the cluster profile's producer does.
    schema_id = HttpRegistry(registry_url).register(value_subject(topic), schema.text).schema_id
    trades = load_generator("trades")(seed=7, symbols=20, first_id=1)  # type: ignore[call-arg]
    batch = trades.next_batch(TRADES, START_US, START_US + 1_000_000)
    values = encode(batch, schema, prefix=confluent_header(schema_id))
    keys = batch["symbol"].combine_chunks().cast(pa.string()).cast(pa.binary())
    with KafkaBus(kafka_server.bootstrap, request_timeout_s=15) as bus:
        bus.create_topic(TopicSpec(topic, PARTITIONS))
        appended = produce(bus, topic, values, keys, PARTITIONS)

    printed = kafka_server.console_consume(topic, max_messages=TRADES, timeout_s=20)

    assert len(printed) == TRADES
    # Each partition holds its keys' messages in the order they were produced, from the
    # offset produce() reported, key and value byte for byte.
    targets = partitions_for_keys(keys, PARTITIONS).tolist()
    for partition in range(PARTITIONS):
        expected = [
            (key, value)
            for key, value, target in zip(
                keys.to_pylist(), values.to_pylist(), targets, strict=True
            )
            if target == partition
        ]
        got = sorted((r for r in printed if r.partition == partition), key=lambda r: r.offset)
        assert [(r.key, r.value) for r in got] == expected
        if expected:
            first, last = appended[partition]
            assert [r.offset for r in got] == list(range(first, last + 1))
    assert len({r.partition for r in printed}) == PARTITIONS  # keys spread over all

    deserializer = AvroDeserializer(SchemaRegistryClient({"url": registry_url}))
    context = SerializationContext(topic, MessageField.VALUE)
    decoded = {}
    for record in printed:
        trade = deserializer(record.value, context)
        assert record.key == trade["symbol"].encode()
        decoded[trade["trade_id"]] = trade
    for row in batch.to_pylist():
        trade = decoded[row["trade_id"]]
        assert {name: trade[name] for name in row} == row
