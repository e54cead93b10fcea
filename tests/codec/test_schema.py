"""Parsing Avro schemas: Arrow types, and refusing what cannot be decoded column by column."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from lakeforge.codec import AvroSchema
from lakeforge.errors import SchemaError


def record(*fields: dict[str, Any], name: str = "R") -> str:
    return json.dumps({"type": "record", "name": name, "fields": list(fields)})


def test_trade_schema(trade_schema: AvroSchema) -> None:
    assert trade_schema.name == "lakeforge.examples.stocks.Trade"
    assert trade_schema.field_names == (
        "trade_id",
        "symbol",
        "price",
        "size",
        "exchange",
        "conditions",
        "tape",
        "event_time",
    )
    assert trade_schema.arrow_schema == pa.schema(
        [
            pa.field("trade_id", pa.int64(), nullable=False),
            pa.field("symbol", pa.string(), nullable=False),
            pa.field("price", pa.float64(), nullable=False),
            pa.field("size", pa.int32(), nullable=False),
            pa.field("exchange", pa.string(), nullable=False),
            pa.field(
                "conditions",
                pa.list_(pa.field("item", pa.string(), nullable=False)),
                nullable=False,
            ),
            pa.field("tape", pa.string(), nullable=False),
            pa.field("event_time", pa.timestamp("us", tz="UTC"), nullable=False),
        ]
    )
    assert json.loads(trade_schema.text)["name"] == "Trade"


def test_every_supported_type(everything_schema: AvroSchema) -> None:
    types = {f.name: f.type for f in everything_schema.arrow_schema}
    point = pa.struct([pa.field("x", pa.int32(), nullable=False), pa.field("label", pa.string())])
    assert types == {
        "b": pa.bool_(),
        "i": pa.int32(),
        "l": pa.int64(),
        "f": pa.float32(),
        "d": pa.float64(),
        "s": pa.string(),
        "by": pa.binary(),
        "e": pa.string(),
        "fx": pa.binary(),
        "ts_ms": pa.timestamp("us", tz="UTC"),
        "day": pa.date32(),
        "ns": pa.string(),
        "nl": pa.int64(),
        "tags": pa.list_(pa.field("item", pa.int64(), nullable=False)),
        "matrix": pa.list_(
            pa.field(
                "item", pa.list_(pa.field("item", pa.float64(), nullable=False)), nullable=False
            )
        ),
        "point": point,
        "points": pa.list_(pa.field("item", point, nullable=False)),
        "maybe_point": point,
        "maybe_colors": pa.list_(pa.field("item", pa.string())),
    }


@pytest.mark.parametrize(
    ("field_type", "shown"),
    [
        ({"type": "map", "values": "long"}, "map<long>"),
        (["int", "string"], "union [int, string]"),
        (["null", "int", "string"], "union [null, int, string]"),
        (["int"], "union [int]"),
        ("null", "null"),
        (
            {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2},
            "bytes (decimal)",
        ),
        (
            {"type": "array", "items": {"type": "fixed", "name": "Empty", "size": 0}},
            "array<Empty> of empty items",
        ),
    ],
)
def test_unsupported_types_name_the_field(field_type: Any, shown: str) -> None:
    text = record({"name": "ok", "type": "long"}, {"name": "bad", "type": field_type})
    with pytest.raises(SchemaError) as caught:
        AvroSchema.parse(text, source="registry id 7")
    assert caught.value.what == (
        f"schema registry id 7: field 'bad' has type {shown}, "
        "which lakeforge cannot decode column by column"
    )


def test_nested_unsupported_field_is_named_by_its_path() -> None:
    inner = {
        "type": "record",
        "name": "Inner",
        "fields": [{"name": "m", "type": {"type": "map", "values": "int"}}],
    }
    with pytest.raises(SchemaError, match=r"field 'outer\.m' has type map<int>"):
        AvroSchema.parse(record({"name": "outer", "type": inner}))


def test_recursive_type_is_refused() -> None:
    text = record(
        {"name": "value", "type": "long"}, {"name": "next", "type": ["null", "Node"]}, name="Node"
    )
    with pytest.raises(SchemaError, match=r"field 'next' has type Node \(recursive\)"):
        AvroSchema.parse(text)


def test_named_types_are_reused() -> None:
    color = {"type": "enum", "name": "Color", "symbols": ["RED"]}
    schema = AvroSchema.parse(record({"name": "a", "type": color}, {"name": "b", "type": "Color"}))
    assert schema.record.fields[0].type == schema.record.fields[1].type


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "is not valid JSON"),
        ('"long"', "is not a record schema"),
        (record({"name": "a", "type": "nope"}), "is not a valid Avro schema"),
        (record({"name": "a", "type": "int", "default": "x"}), "is not a valid Avro schema"),
        (
            record(
                {
                    "name": "e",
                    "type": {"type": "enum", "name": "E", "symbols": ["A"]},
                    "default": "B",
                }
            ),
            "default 'B' is not a symbol of enum E",
        ),
        (json.dumps({"type": "record", "name": "R", "fields": []}), "record R with no fields"),
    ],
)
def test_invalid_schemas(text: str, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        AvroSchema.parse(text)


def test_load_reports_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="cannot read schema file"):
        AvroSchema.load(tmp_path / "absent.avsc")


def test_unknown_logical_types_read_as_their_base_type() -> None:
    schema = AvroSchema.parse(
        record(
            {"name": "u", "type": {"type": "string", "logicalType": "uuid"}},
            {"name": "x", "type": {"type": "long", "logicalType": "whatever"}},
        )
    )
    assert schema.arrow_schema.types == [pa.string(), pa.int64()]
