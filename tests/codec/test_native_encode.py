"""The native encoder (the C extension) writes exactly the NumPy encoder's bytes.

Every test encodes the same table twice, with ``LAKEFORGE_NATIVE_ENCODE`` on and off,
and compares the bytes, or the exception and its message: random flat schemas with
random tables (plain and dictionary columns, nulls, slices, empty tables, empty
lists), the trade generator's batches, bad columns, and hostile Arrow arrays whose
indexes point outside their buffers.

The extension is imported at the top on purpose: CI builds it, so a missing extension
fails this module instead of skipping it.
"""

from __future__ import annotations

import json
import os
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lakeforge.codec import AvroSchema, Decoder, _native_encode, confluent_header, encode_native
from lakeforge.codec.encode import encode
from lakeforge.codec.switches import native_path
from lakeforge.errors import SchemaError
from lakeforge.source.trades import TradeGenerator
from tests.codec.samples import TRADE_TEXT
from tests.codec.test_properties import values_of

SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TRADE = AvroSchema.parse(TRADE_TEXT)
SCALARS: list[Any] = [
    "boolean",
    "int",
    "long",
    "float",
    "double",
    "string",
    "bytes",
    {"type": "long", "logicalType": "timestamp-micros"},
    {"type": "long", "logicalType": "local-timestamp-micros"},
    {"type": "int", "logicalType": "date"},
    {"type": "long", "logicalType": "time-micros"},
    "ENUM",
    "FIXED",
]


def native(on: bool) -> AbstractContextManager[None]:
    """The native encode path switched on or off for the block."""
    return native_path(encode_native.SWITCH, on)


def outcome(table: pa.Table, schema: AvroSchema, prefix: bytes, on: bool) -> Any:
    """The encoded bytes, or the exception's type and message."""
    with native(on):
        try:
            return encode(table, schema, prefix).to_pylist()
        except Exception as error:  # compared between the paths
            return type(error), str(error), getattr(error, "hint", None)


def same_both_ways(table: pa.Table, schema: AvroSchema, prefix: bytes = b"") -> Any:
    """Assert both paths give the same outcome; return it."""
    numpy_outcome = outcome(table, schema, prefix, on=False)
    assert outcome(table, schema, prefix, on=True) == numpy_outcome
    return numpy_outcome


def test_the_extension_is_built_and_used() -> None:
    assert encode_native.available()
    assert encode_native.enabled() == (os.environ.get(encode_native.SWITCH) != "0")
    assert hasattr(_native_encode, "encode")
    table = TradeGenerator().next_batch(10, 0, 1000)
    assert encode_native.encode(table, TRADE, b"") is not None


# ---- random flat schemas and tables -----------------------------------------------------


@st.composite
def flat_schemas(draw: st.DrawFn) -> dict[str, Any]:
    """A record of 1 to 6 flat fields: scalars, [null, T] unions, arrays of scalars."""
    fields = []
    for index in range(draw(st.integers(1, 6))):
        scalar = draw(st.sampled_from(SCALARS))
        if scalar == "ENUM":
            symbols = draw(st.lists(st.sampled_from("ABCDEFGH"), min_size=1, unique=True))
            scalar = {"type": "enum", "name": f"E{index}", "symbols": symbols}
        elif scalar == "FIXED":
            scalar = {"type": "fixed", "name": f"F{index}", "size": draw(st.integers(1, 9))}
        shape = draw(st.sampled_from(["plain", "null first", "null last", "array"]))
        type_: Any = {
            "plain": scalar,
            "null first": ["null", scalar],
            "null last": [scalar, "null"],
            "array": {"type": "array", "items": scalar},
        }[shape]
        fields.append({"name": f"f{index}", "type": type_})
    return {"type": "record", "name": "R", "fields": fields}


def dictionary_encoded(column: pa.Array, index_type: pa.DataType) -> pa.Array:
    """A string/binary column (or the items of a list column) as a dictionary."""
    if pa.types.is_list(column.type):
        items = dictionary_encoded(column.values, index_type)
        return pa.ListArray.from_arrays(column.offsets, items)
    if not (pa.types.is_string(column.type) or pa.types.is_binary(column.type)):
        return column
    coded = pc.dictionary_encode(column)
    return pa.DictionaryArray.from_arrays(coded.indices.cast(index_type), coded.dictionary)


@st.composite
def tables(draw: st.DrawFn) -> tuple[pa.Table, AvroSchema]:
    """A random flat schema and a random table of it, maybe dictionary-coded and sliced."""
    raw = draw(flat_schemas())
    schema = AvroSchema.parse(json.dumps(raw))
    records = draw(st.lists(values_of(raw, {}), max_size=40))
    table = pa.Table.from_pylist(records, schema=schema.arrow_schema)
    columns = []
    for field, column in zip(schema.record.fields, table.columns, strict=True):
        chunk = column.combine_chunks()
        # fixed columns from dictionaries are left to the NumPy encoder by design
        if draw(st.booleans()) and "Fixed" not in repr(field.type):
            index_type = draw(st.sampled_from([pa.int8(), pa.int16(), pa.int32()]))
            chunk = dictionary_encoded(chunk, index_type)
        columns.append(chunk)
    table = pa.table(columns, names=table.column_names)
    first = draw(st.integers(0, table.num_rows))
    return table.slice(first, draw(st.integers(0, table.num_rows - first))), schema


@SETTINGS
@given(tables(), st.sampled_from([b"", confluent_header(5), b"abcdefghijk"]))
def test_random_flat_tables_encode_byte_for_byte(
    case: tuple[pa.Table, AvroSchema], prefix: bytes
) -> None:
    table, schema = case
    with native(True):
        assert encode_native.encode(table, schema, prefix) is not None  # really native
    result = same_both_ways(table, schema, prefix)
    assert isinstance(result, list) and len(result) == table.num_rows


@SETTINGS
@given(tables())
def test_random_flat_tables_read_back(case: tuple[pa.Table, AvroSchema]) -> None:
    table, schema = case
    with native(True):
        messages = encode(table, schema, confluent_header(1))
    decoded = Decoder(schema, lambda schema_id: schema.text).decode(messages)
    assert decoded.table.num_rows == table.num_rows
    assert len(decoded.errors.kind) == 0


# ---- the producer's batches ------------------------------------------------------------


@pytest.mark.parametrize("rows", [0, 1, 1000, 70000])
def test_trade_batches_encode_byte_for_byte(rows: int) -> None:
    generator = TradeGenerator(seed=rows)
    for batch in range(3):
        table = generator.next_batch(rows, batch * 50_000, (batch + 1) * 50_000)
        assert same_both_ways(table, TRADE, confluent_header(9)) is not None
        assert same_both_ways(table.slice(rows // 3, rows // 2), TRADE, b"") is not None


def test_trade_batches_round_trip_through_the_decoder() -> None:
    table = TradeGenerator(seed=3).next_batch(5000, 0, 50_000)
    with native(True):
        messages = encode(table, TRADE, confluent_header(1))
    decoded = Decoder(TRADE, lambda schema_id: TRADE.text).decode(messages)
    expected = table.cast(TRADE.arrow_schema)
    assert decoded.table.equals(expected)


# ---- bad columns: the same error either way -------------------------------------------


def trades(rows: int = 50) -> pa.Table:
    """A batch of trades with plain (not dictionary) columns."""
    table = TradeGenerator(seed=1).next_batch(rows, 0, 50_000)
    return table.cast(TRADE.arrow_schema)


def replaced(table: pa.Table, name: str, column: pa.Array) -> pa.Table:
    """``table`` with column ``name`` replaced."""
    return table.set_column(table.schema.get_field_index(name), name, column)


BAD_COLUMNS = {
    "null in a string": ("symbol", pa.array(["A", None] * 25)),
    "null in a long": ("trade_id", pa.array([1, None] * 25, pa.int64())),
    "null in a dictionary": ("tape", pc.dictionary_encode(pa.array(["A", None] * 25))),
    "null in a dictionary value": (
        "tape",
        pa.DictionaryArray.from_arrays(pa.array([0, 1] * 25, pa.int8()), pa.array(["A", None])),
    ),
    "int out of range": ("size", pa.array([1, 2**40] * 25, pa.int64())),
    "uint64 long out of range": ("trade_id", pa.array([1, 2**63] * 25, pa.uint64())),
    "unknown enum symbol": ("exchange", pa.array(["NYSE", "MOON"] * 25)),
    "unknown enum symbol in a dictionary": (
        "exchange",
        pc.dictionary_encode(pa.array(["NYSE", "MOON"] * 25)),
    ),
    "wrong type": ("price", pa.array(["1.5"] * 50)),
    "binary for a string": ("symbol", pa.array([b"A"] * 50)),
    "timestamp in millis": (
        "event_time",
        pa.array([1, 2**62] * 25, pa.timestamp("ms", tz="UTC")),
    ),
    "null list": ("conditions", pa.array([["@"], None] * 25, pa.list_(pa.string()))),
    "null list item": ("conditions", pa.array([["@", None]] * 50, pa.list_(pa.string()))),
    "large string": ("symbol", pa.array(["AAPL"] * 50, pa.large_string())),
    "float for a double": ("price", pa.array([1.5] * 50, pa.float32())),
    "int for a double": ("price", pa.array([1, 2**60] * 25, pa.int64())),
    "int8 for an int": ("size", pa.array([1, -5] * 25, pa.int8())),
    "int64 for an int in range": ("size", pa.array([1, -5] * 25, pa.int64())),
}


@pytest.mark.parametrize("case", sorted(BAD_COLUMNS))
def test_bad_or_unusual_columns_fail_or_pass_the_same_way(case: str) -> None:
    name, column = BAD_COLUMNS[case]
    same_both_ways(replaced(trades(), name, column), TRADE, b"x")


def test_errors_are_the_numpy_encoders() -> None:
    table = replaced(trades(), "exchange", pa.array(["NYSE", "MOON"] * 25))
    result = same_both_ways(table, TRADE)
    assert result[0] is SchemaError
    assert "'MOON', which is not a symbol of enum" in result[1]


def test_missing_and_chunked_columns_fall_back() -> None:
    table = trades()
    same_both_ways(table.drop_columns(["tape"]), TRADE)
    chunked = pa.concat_tables([table, table])
    assert chunked.column("symbol").num_chunks == 2
    with native(True):
        assert encode_native.encode(chunked, TRADE, b"") is None
    same_both_ways(chunked, TRADE)


def test_fixed_columns_of_each_form() -> None:
    schema = AvroSchema.parse(
        json.dumps(
            {
                "type": "record",
                "name": "R",
                "fields": [
                    {"name": "f", "type": {"type": "fixed", "name": "F", "size": 3}},
                    {"name": "g", "type": ["null", {"type": "fixed", "name": "G", "size": 2}]},
                ],
            }
        )
    )
    good = pa.table(
        {
            "f": pa.array([b"abc", b"def", b"ghi"], pa.binary(3)),
            "g": pa.array([b"ab", None, b"cd"]),
        }
    )
    assert same_both_ways(good.slice(1), schema) is not None
    with native(True):
        assert encode_native.encode(good.slice(1), schema, b"") is not None
    bad = replaced(good, "f", pa.array([b"abc", b"de", b"ghi"]))
    assert same_both_ways(bad, schema)[0] is SchemaError


# ---- hostile arrays: indexes outside their buffers --------------------------------------


def test_dictionary_indices_out_of_range_are_declined() -> None:
    hostile = pa.DictionaryArray.from_arrays(
        pa.array([0, 1, 7] * 10, pa.int8()), pa.array(["A", "B"]), safe=False
    )
    table = replaced(trades(30), "tape", hostile)
    with native(True):
        assert encode_native.encode(table, TRADE, b"") is None
    hostile = pa.DictionaryArray.from_arrays(
        pa.array([0, -1] * 15, pa.int8()), pa.array(["A", "B"]), safe=False
    )
    with native(True):
        assert encode_native.encode(replaced(trades(30), "tape", hostile), TRADE, b"") is None


def program(kind: int, nullable: int = 0, array: int = 0) -> bytes:
    """A one-field program for the extension: kind, nullable, null first, is array."""
    return np.array([kind, nullable, 0, array], dtype=np.int64).tobytes()


def i32(*values: int) -> Any:
    """An int32 buffer."""
    return np.array(values, dtype=np.int32)


STRINGS = (i32(0, 2, 4), np.frombuffer(b"abcd", dtype=np.uint8))
HOSTILE_CALLS = {
    "list offsets past the items": (
        program(1, array=1),
        (None, i32(0, 1, 3), None, 1, i32(5, 6), None),
        2,
    ),
    "list offsets backwards": (
        program(1, array=1),
        (None, i32(0, 2, 1), None, 1, i32(5, 6), None),
        2,
    ),
    "list offsets negative": (program(1, array=1), (None, i32(-1, 1), None, 1, i32(5, 6), None), 1),
    "too few list offsets": (program(1, array=1), (None, i32(0, 1), None, 1, i32(5, 6), None), 2),
    "too few values": (program(2), (None, None, None, 1, np.zeros(1, np.int64), None), 2),
    "too short a validity": (
        program(2, nullable=1),
        (np.ones(1, np.uint8), None, None, 1, np.zeros(2, np.int64), None),
        2,
    ),
    "dictionary index past the end": (
        program(5),
        (None, None, np.array([0, 2], np.int8), 1, STRINGS[1], STRINGS[0]),
        2,
    ),
    "negative dictionary index": (
        program(5),
        (None, None, np.array([0, -1], np.int16), 2, STRINGS[1], STRINGS[0]),
        2,
    ),
    "too few dictionary indices": (
        program(1),
        (None, None, np.array([0], np.int32), 4, i32(7, 8), None),
        2,
    ),
    "string offsets past the data": (
        program(5),
        (None, None, None, 1, STRINGS[1], i32(0, 2, 9)),
        2,
    ),
    "string offsets backwards": (program(5), (None, None, None, 1, STRINGS[1], i32(0, 3, 2)), 2),
    "string offsets negative": (program(6), (None, None, None, 1, STRINGS[1], i32(-2, 0, 2)), 2),
    "no string offsets": (program(5), (None, None, None, 1, STRINGS[1], None), 2),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_CALLS))
def test_the_extension_declines_indexes_outside_their_buffers(case: str) -> None:
    code, column, rows = HOSTILE_CALLS[case]
    assert _native_encode.encode(code, [column], rows, b"p") is None


def test_the_extension_writes_what_it_is_given() -> None:
    # the same calls with good buffers, as a check that the cases above are well formed
    assert (
        _native_encode.encode(
            program(1, array=1), [(None, i32(0, 1, 2), None, 1, i32(5, 6), None)], 2, b""
        )
        is not None
    )
    offsets, values = _native_encode.encode(
        program(5), [(None, None, np.array([1, 0], np.int8), 1, STRINGS[1], STRINGS[0])], 2, b"p"
    )
    assert bytes(values) == b"p\x04cdp\x04ab"
    assert np.frombuffer(offsets, np.int32).tolist() == [0, 4, 8]
