"""confluent-kafka's own Schema Registry client and Avro serde against our server.

These are the clients Kafka users already have; if they work unchanged against the
embedded registry, so do the tools built on them.
"""

from __future__ import annotations

import io
import json
import struct

import fastavro
import pytest

from lakeforge.registry import RegistryServer
from tests.registry.schema_edits import add_field, evolve, field_of

# confluent_kafka.schema_registry needs the `schemaregistry` extra (attrs, authlib).
schema_registry = pytest.importorskip(
    "confluent_kafka.schema_registry",
    reason="confluent-kafka's schema registry client needs confluent-kafka[schemaregistry]",
)
avro = pytest.importorskip("confluent_kafka.schema_registry.avro")
serialization = pytest.importorskip("confluent_kafka.serialization")

TRADE = {
    "trade_id": 7, "symbol": "AAPL", "price": 187.25, "size": 100, "exchange": "NASDAQ",
    "conditions": ["@"], "tape": "C", "event_time": 1_700_000_000_123_456,
}  # fmt: skip


@pytest.fixture
def client(server: RegistryServer) -> schema_registry.SchemaRegistryClient:
    return schema_registry.SchemaRegistryClient({"url": server.url})


def test_serialize_and_deserialize_through_the_registry(
    client: schema_registry.SchemaRegistryClient, trade_schema: str
) -> None:
    context = serialization.SerializationContext("trades", serialization.MessageField.VALUE)
    serializer = avro.AvroSerializer(client, trade_schema)  # registers trades-value itself
    framed = serializer(TRADE, context)

    magic, schema_id = struct.unpack(">bI", framed[:5])
    assert magic == 0
    assert schema_id == client.get_latest_version("trades-value").schema_id
    parsed = fastavro.parse_schema(json.loads(trade_schema))
    body = fastavro.schemaless_reader(io.BytesIO(framed[5:]), parsed, return_record_name=False)
    assert body["symbol"] == "AAPL" and body["price"] == 187.25
    assert body["event_time"].timestamp() == pytest.approx(1_700_000_000.123456)

    decoded = avro.AvroDeserializer(client)(framed, context)
    assert {k: v for k, v in decoded.items() if k != "event_time"} == {
        k: v for k, v in TRADE.items() if k != "event_time"
    }


def test_register_lookup_and_read_versions(
    client: schema_registry.SchemaRegistryClient, subject: str, trade_schema: str
) -> None:
    schema = schema_registry.Schema(trade_schema, "AVRO")
    schema_id = client.register_schema(subject, schema)
    found = client.lookup_schema(subject, schema)
    assert (found.schema_id, found.version, found.subject) == (schema_id, 1, subject)
    latest = client.get_latest_version(subject)
    assert (latest.schema_id, latest.version) == (schema_id, 1)
    assert json.loads(latest.schema.schema_str) == json.loads(trade_schema)
    assert client.get_version(subject, 1).schema_id == schema_id
    assert client.get_versions(subject) == [1]
    assert subject in client.get_subjects()
    assert json.loads(client.get_schema(schema_id).schema_str) == json.loads(trade_schema)
    # The same schema may be registered under other subjects of this server too.
    assert (subject, 1) in [(v.subject, v.version) for v in client.get_schema_versions(schema_id)]
    assert subject in client.get_subjects_by_schema_id(schema_id)
    assert client.get_schema_types() == ["AVRO"]


def test_incompatible_register_raises_409(
    client: schema_registry.SchemaRegistryClient, subject: str, trade_schema: str
) -> None:
    client.register_schema(subject, schema_registry.Schema(trade_schema, "AVRO"))
    bad = evolve(trade_schema, lambda s: field_of(s, "price").update(type="string"))
    bad_schema = schema_registry.Schema(bad, "AVRO")
    assert client.test_compatibility(subject, bad_schema) is False
    with pytest.raises(schema_registry.error.SchemaRegistryError) as caught:
        client.register_schema(subject, bad_schema)
    assert (caught.value.http_status_code, caught.value.error_code) == (409, 409)
    assert "field 'price'" in caught.value.error_message
    good = evolve(trade_schema, add_field(name="venue", type=["null", "string"], default=None))
    assert client.test_compatibility(subject, schema_registry.Schema(good, "AVRO")) is True
    assert client.test_compatibility_all_versions(subject, schema_registry.Schema(good, "AVRO"))
    assert client.register_schema(subject, schema_registry.Schema(good, "AVRO")) > 0


def test_config_and_deletion(client: schema_registry.SchemaRegistryClient, subject: str) -> None:
    client.register_schema(subject, schema_registry.Schema('"string"', "AVRO"))
    assert client.set_compatibility(subject, "FULL") == {"compatibility": "FULL"}
    assert client.get_compatibility(subject) == "FULL"
    assert client.get_config(subject).compatibility_level.value == "FULL"
    assert client.get_compatibility() == "BACKWARD"
    assert client.delete_version(subject, 1) == 1
    assert client.delete_subject(subject, permanent=True) == [1]
    with pytest.raises(schema_registry.error.SchemaRegistryError) as caught:
        client.get_latest_version(subject)
    assert caught.value.error_code == 40401
