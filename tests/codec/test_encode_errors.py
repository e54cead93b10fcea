"""What encode refuses, and how it fills in a missing nullable column."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from lakeforge.codec import AvroSchema, encode
from lakeforge.errors import SchemaError
from tests.codec.samples import TRADE_TEXT, fastavro_schema, random_trades, read_body


@pytest.fixture
def trades(trade_schema: AvroSchema) -> pa.Table:
    return pa.Table.from_pylist(random_trades(5, 1), schema=trade_schema.arrow_schema)


@pytest.mark.parametrize(
    ("column", "values", "message"),
    [
        (
            "price",
            pa.array(["1.5"] * 5),
            "column 'price' is string, which does not fit its Avro type double",
        ),
        (
            "symbol",
            pa.array([1] * 5),
            "column 'symbol' is int64, which does not fit its Avro type string",
        ),
        ("size", pa.array([2**40] * 5), "column 'size' (int64) does not fit its Avro type int"),
        (
            "conditions",
            pa.array(["@"] * 5),
            "column 'conditions' is string, which does not fit its Avro type array<string>",
        ),
        (
            "event_time",
            pa.array([1] * 5, pa.timestamp("ns")),
            "column 'event_time' (timestamp[ns]) does not fit",
        ),
        (
            "symbol",
            pa.array(["A", None, "B", "C", "D"]),
            "column 'symbol' has 1 nulls, but its Avro type string is not nullable",
        ),
        ("conditions", pa.array([["@", None]] * 5), "column 'conditions[]' has 5 nulls"),
        (
            "exchange",
            pa.array(["NYSE", "LSE", "IEX", "NYSE", "NYSE"]),
            "column 'exchange' has 'LSE', which is not a symbol of enum",
        ),
    ],
)
def test_columns_that_do_not_fit(
    trade_schema: AvroSchema, trades: pa.Table, column: str, values: pa.Array, message: str
) -> None:
    table = trades.set_column(trades.schema.get_field_index(column), column, values)
    with pytest.raises(SchemaError) as caught:
        encode(table, trade_schema)
    assert message in caught.value.what


def test_missing_column_of_a_required_field(trade_schema: AvroSchema, trades: pa.Table) -> None:
    with pytest.raises(SchemaError, match="column 'tape' is missing"):
        encode(trades.drop_columns(["tape"]), trade_schema)


def test_missing_nullable_columns_are_null_and_extra_columns_ignored() -> None:
    text = json.dumps(
        {
            "type": "record",
            "name": "R",
            "fields": [
                {"name": "a", "type": "long"},
                {"name": "b", "type": ["null", "string"], "default": None},
                {
                    "name": "c",
                    "type": [
                        "null",
                        {
                            "type": "record",
                            "name": "C",
                            "fields": [
                                {"name": "x", "type": "int"},
                                {"name": "y", "type": ["null", "long"]},
                            ],
                        },
                    ],
                },
            ],
        }
    )
    schema = AvroSchema.parse(text)
    table = pa.table({"a": [1, 2], "extra": ["x", "y"], "c": [{"x": 1}, None]})
    bodies = encode(table, schema)
    parsed = fastavro_schema(text)
    assert [read_body(parsed, body) for body in bodies.to_pylist()] == [
        {"a": 1, "b": None, "c": {"x": 1, "y": None}},
        {"a": 2, "b": None, "c": None},
    ]


def test_fixed_size_is_checked() -> None:
    text = json.dumps(
        {
            "type": "record",
            "name": "R",
            "fields": [{"name": "f", "type": {"type": "fixed", "name": "F", "size": 2}}],
        }
    )
    with pytest.raises(
        SchemaError, match="column 'f' has a value of 3 bytes at row 1, but fixed F has 2"
    ):
        encode(pa.table({"f": [b"ab", b"abc"]}), AvroSchema.parse(text))


def test_bodies_of_the_trade_schema_read_back(trade_schema: AvroSchema, trades: pa.Table) -> None:
    parsed = fastavro_schema(TRADE_TEXT)
    assert all(read_body(parsed, body) for body in encode(trades, trade_schema).to_pylist())
