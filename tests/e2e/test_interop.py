"""lakeforge's wire format is Confluent's: confluent-kafka's own serializers agree with it.

What lakeforge's producer writes, confluent-kafka's AvroDeserializer decodes (looking
the schema up in lakeforge's registry over its REST API); what confluent-kafka's
AvroSerializer writes, lakeforge's stream runner decodes into bronze.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from lakeforge.profiles import open_local
from lakeforge.registry.server import RegistryServer
from lakeforge.registry.store import EmbeddedRegistry
from lakeforge.source.producer import Producer
from lakeforge.spec.checks import check_pipeline
from lakeforge.spec.load import load_pipeline
from lakeforge.stream.runner import StreamRunner

CONTEXT = SerializationContext("trades", MessageField.VALUE)


@pytest.fixture
def served(stocks: Path) -> Iterator[tuple[Path, SchemaRegistryClient]]:
    pipeline = load_pipeline(stocks, environ={})
    check_pipeline(pipeline)
    pipeline.state_path.mkdir(parents=True)
    registry = EmbeddedRegistry(pipeline.state_path / "registry.db")
    with RegistryServer(registry) as server:
        yield stocks, SchemaRegistryClient({"url": server.url})
    registry.close()


def test_confluent_deserializer_reads_what_lakeforge_produced(served) -> None:  # type: ignore[no-untyped-def]
    folder, client = served
    pipeline = load_pipeline(folder, environ={})
    with open_local(pipeline) as profile:
        Producer(pipeline, profile).run(count=500, rate=0)
        fetched = profile.bus.fetch("trades", 0, 0, 1000)
    assert fetched.count > 0
    deserializer = AvroDeserializer(client)
    decoded = [deserializer(value, CONTEXT) for value in fetched.records["value"].to_pylist()]
    assert all(isinstance(d, dict) for d in decoded)
    ids = [d["trade_id"] for d in decoded]
    assert ids == sorted(ids)
    assert {d["tape"] for d in decoded} <= {"A", "B", "C"}
    assert all(d["price"] > 0 and d["size"] > 0 for d in decoded)


def test_lakeforge_consumes_what_confluent_serializer_wrote(served) -> None:  # type: ignore[no-untyped-def]
    folder, client = served
    schema = (folder / "schemas" / "trade.avsc").read_text()
    serializer = AvroSerializer(client, schema)
    records = [
        {
            "trade_id": i,
            "symbol": "MSFT",
            "price": 400.0 + i / 100,
            "size": 100 + i,
            "exchange": "NYSE",
            "conditions": ["@", "F"] if i % 2 else [],
            "tape": "C",
            "event_time": 1_767_225_600_000_000 + i,
        }
        for i in range(1, 101)
    ]
    values = [serializer(record, CONTEXT) for record in records]
    pipeline = load_pipeline(folder, environ={})
    with open_local(pipeline) as profile:
        profile.bus.append("trades", 1, pa.table({"value": pa.array(values, pa.binary())}))
        StreamRunner(pipeline, profile).run(until_drained=True)
        bronze = profile.warehouse.open_table("bronze.trades").read("delta")
    assert bronze.num_rows == 100
    rows = bronze.sort_by("trade_id").to_pylist()
    assert rows[0]["conditions"] == ["@", "F"]
    assert rows[1]["conditions"] == []
    assert rows[-1]["price"] == pytest.approx(401.0)
    assert rows[0]["event_time"].timestamp() == pytest.approx(1_767_225_600.000001)


def test_registry_url_points_the_pipeline_at_another_registry(stocks: Path) -> None:
    # A second, separate registry served over HTTP: the pipeline registers there.
    other = EmbeddedRegistry(":memory:")
    with RegistryServer(other) as server:
        text = (stocks / "pipeline.yaml").read_text()
        (stocks / "pipeline.yaml").write_text(
            text.replace("registry:\n", f"registry:\n  url: {server.url}\n", 1)
        )
        pipeline = load_pipeline(stocks, environ={})
        with open_local(pipeline) as profile:
            Producer(pipeline, profile).run(count=10, rate=0)
            StreamRunner(pipeline, profile).run(until_drained=True)
            rows = profile.warehouse.open_table("bronze.trades").stats().rows
        assert other.subjects() == ["trades-value"]
        assert rows == 10
    other.close()
