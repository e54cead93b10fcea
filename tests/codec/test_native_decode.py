"""The native decoder (the C extension) gives exactly the NumPy decoder's Decoded.

Every test decodes the same messages twice, with ``LAKEFORGE_NATIVE_DECODE`` on and off,
and compares everything: the table (types, values, float bits), index, schema ids,
errors with their kinds and reasons, unread fields. Random flat schemas with random
records, mutated and random bodies, a crafted body for every error kind, schema
evolution, several schema ids, chunked, empty and all-bad batches.

The extension is imported at the top on purpose: CI builds it, so a missing extension
fails this module instead of skipping it.
"""

from __future__ import annotations

import copy
import json
import os
import threading
from contextlib import AbstractContextManager
from typing import Any

import fastavro
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lakeforge.codec import AvroSchema, Decoded, Decoder, _native, decode_native, encode, frame
from lakeforge.codec.switches import native_path
from tests.codec.samples import (
    EVERYTHING_TEXT,
    TRADE_TEXT,
    Registry,
    framed,
    normalise,
    random_everything,
    random_trades,
    strip_logical,
    write_body,
)
from tests.codec.test_hostile_properties import INCOMPATIBLE, SUITES, UNKNOWN_IDS
from tests.codec.test_properties import mutate, mutations, values_of

SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TRADE = AvroSchema.parse(TRADE_TEXT)


def test_the_extension_is_built_and_used() -> None:
    assert decode_native.available()
    assert decode_native.enabled() == (os.environ.get(decode_native.SWITCH) != "0")
    assert hasattr(_native, "decode")
    assert decode_native.compile_program(TRADE.record) is not None


def native_decode(on: bool) -> AbstractContextManager[None]:
    return native_path(decode_native.SWITCH, on)


def bits_type(type_: pa.DataType) -> pa.DataType:
    """Floats as same-width ints, so NaN payloads and -0.0 compare exactly."""
    if type_ == pa.float32():
        return pa.int32()
    if type_ == pa.float64():
        return pa.int64()
    if pa.types.is_list(type_):
        return pa.list_(type_.value_field.with_type(bits_type(type_.value_type)))
    return type_


def assert_same(a: Decoded, b: Decoded) -> None:
    assert a.table.schema == b.table.schema
    assert a.table.num_rows == b.table.num_rows
    for x, y in zip(a.table.columns, b.table.columns, strict=True):
        x, y = x.combine_chunks(), y.combine_chunks()
        # times out of a day's range are kept as read by both paths; Arrow refuses them
        leaf = x.type.value_type if pa.types.is_list(x.type) else x.type
        x.validate(full=not pa.types.is_time(leaf))
        if bits_type(x.type) != x.type:
            assert x.view(bits_type(x.type)).equals(y.view(bits_type(y.type)))
        else:  # nested types (NumPy path only): NaN compared by name
            assert x.equals(y) or normalise(x.to_pylist()) == normalise(y.to_pylist())
    assert a.index.dtype == b.index.dtype and a.index.tolist() == b.index.tolist()
    assert a.schema_ids.dtype == b.schema_ids.dtype
    assert a.schema_ids.tolist() == b.schema_ids.tolist()
    assert a.errors.index.tolist() == b.errors.index.tolist()
    assert a.errors.kind == b.errors.kind
    assert a.errors.reason == b.errors.reason
    assert a.unread_fields == b.unread_fields


def decode_both(
    reader: AvroSchema,
    writers: dict[int, str],
    messages: pa.Array | pa.ChunkedArray | list[bytes | None],
    max_message_bytes: int = 1_048_576,
) -> Decoded:
    """The Decoded of ``messages``, after checking that both paths give it."""
    if isinstance(messages, list):
        messages = pa.array(messages, pa.binary())
    results = []
    for on in (True, False):
        with native_decode(on):
            decoder = Decoder(reader, Registry(writers), max_message_bytes)
            results.append(decoder.decode(messages))
    assert_same(*results)
    return results[0]


# --- random flat schemas -------------------------------------------------------------

SCALARS: list[Any] = [
    "boolean",
    "int",
    "long",
    "float",
    "double",
    "string",
    "bytes",
    "enum",
    "fixed",
    {"type": "int", "logicalType": "date"},
    {"type": "int", "logicalType": "time-millis"},
    {"type": "long", "logicalType": "time-micros"},
    {"type": "long", "logicalType": "timestamp-millis"},
    {"type": "long", "logicalType": "timestamp-micros"},
    # not limited by values_of: some values overflow micros and fail in both paths
    {"type": "long", "logicalType": "local-timestamp-millis"},
    {"type": "long", "logicalType": "local-timestamp-micros"},
]


@st.composite
def flat_schemas(draw: st.DrawFn) -> dict[str, Any]:
    fields = []
    for i in range(draw(st.integers(1, 6))):
        base = copy.deepcopy(draw(st.sampled_from(SCALARS)))
        shape = draw(st.sampled_from(["plain", "null_first", "null_last", "array"]))
        if base == "enum":
            count = draw(st.integers(1, 4))
            base = {"type": "enum", "name": f"E{i}", "symbols": [f"S{k}" for k in range(count)]}
        elif base == "fixed":
            size = draw(st.integers(1 if shape == "array" else 0, 5))
            base = {"type": "fixed", "name": f"X{i}", "size": size}
        node = {
            "plain": base,
            "null_first": ["null", base],
            "null_last": [base, "null"],
            "array": {"type": "array", "items": base},
        }[shape]
        fields.append({"name": f"f{i}", "type": node})
    return {"type": "record", "name": "Flat", "fields": fields}


@SETTINGS
@given(schema=flat_schemas(), data=st.data())
def test_random_flat_schemas_and_records(schema: dict[str, Any], data: st.DataObject) -> None:
    reader = AvroSchema.parse(json.dumps(schema))
    assert decode_native.compile_program(reader.record) is not None
    parsed = fastavro.parse_schema(strip_logical(schema))
    records = data.draw(st.lists(values_of(schema, {}), max_size=8))
    bodies = [write_body(parsed, record) for record in records]
    for i in data.draw(st.sets(st.integers(0, max(len(bodies) - 1, 0)))) if bodies else ():
        bodies[i] = mutate(bodies[i], data.draw(mutations()))
    bodies += data.draw(st.lists(st.binary(max_size=24), max_size=3))
    decode_both(reader, {1: json.dumps(schema)}, [framed(1, body) for body in bodies])


@SETTINGS
@given(data=st.data())
def test_trades_written_by_lakeforge_with_mutations(data: st.DataObject) -> None:
    records = random_trades(data.draw(st.integers(1, 40)), seed=data.draw(st.integers(0, 999)))
    table = pa.Table.from_pylist(records, schema=TRADE.arrow_schema)
    bodies = encode(table, TRADE).to_pylist()
    for i in data.draw(st.sets(st.integers(0, len(bodies) - 1), max_size=5)):
        bodies[i] = mutate(bodies[i], data.draw(mutations()))
    result = decode_both(TRADE, {1: TRADE_TEXT}, [framed(1, body) for body in bodies])
    assert len(result.index) + len(result.errors) == len(bodies)


# --- every error kind, crafted -------------------------------------------------------


def record(*types: Any) -> str:
    fields = [{"name": f"f{i}", "type": t} for i, t in enumerate(types)]
    return json.dumps({"type": "record", "name": "R", "fields": fields})


COLOR = {"type": "enum", "name": "Color", "symbols": ["RED", "GREEN"]}
TWO = {"type": "fixed", "name": "Two", "size": 2}
MILLIS = {"type": "long", "logicalType": "timestamp-millis"}
LONGS = {"type": "array", "items": "long"}
STRINGS = {"type": "array", "items": "string"}

#: (schema, body, kind or None when the body is valid)
CRAFTED: list[tuple[str, bytes, str | None]] = [
    (record("int"), b"\x80", "truncated"),
    (record("long"), b"\xff" * 9 + b"\x01", None),  # 10 bytes: the largest long
    (record("long"), b"\xff" * 9 + b"\x7f", None),  # bits past 64 are dropped
    (record("long"), b"\xff" * 11, "bad_varint"),
    (record("long"), b"\xff" * 10, "bad_varint"),
    (record("long"), b"\x80\x80\x00", None),  # a non-canonical 0
    (record("int"), b"\x80\x80\x80\x80\x10", "bad_varint"),  # 2**31 does not fit an int
    (record("int"), b"\xfe\xff\xff\xff\x0f", None),  # 2**31 - 1 does
    (record(MILLIS), b"\xfe\xff\xff\xff\xff\xff\xff\xff\x7f", "bad_varint"),
    (record("double"), b"\x00" * 7, "truncated"),
    (record("float"), b"\x00" * 3, "truncated"),
    (record("boolean"), b"", "truncated"),
    (record("boolean"), b"\x02", None),  # any non-zero byte is true
    (record(TWO), b"a", "truncated"),
    (record(["null", "long"]), b"\x04\x02", "bad_union"),
    (record(["null", "long"]), b"\x01\x02", "bad_union"),
    (record(["null", "long"]), b"\x04", "bad_union"),  # no value follows: only the branch
    (record(["long", "null"]), b"\x04", "bad_union"),
    (record(["long", "null"]), b"\x02", None),
    (record(["null", "string"]), b"\x80\x00", None),  # branch 0 in two bytes
    (record(COLOR), b"\x04", "bad_enum"),
    (record(COLOR), b"\x01", "bad_enum"),
    (record("string"), b"\x01", "bad_length"),
    (record("bytes"), b"\x06ab", "truncated"),
    (record("string"), b"\x02\xff", "bad_utf8"),
    (record("string"), b"\x06\xed\xa0\x80", "bad_utf8"),  # a surrogate
    (record("string"), b"\x04\xc0\x80", "bad_utf8"),  # overlong
    (record("string"), b"\x08\xf4\x90\x80\x80", "bad_utf8"),  # past U+10FFFF
    (record("string"), b"\x06\xe2\x82", "truncated"),
    (record("string"), b"\x04\xe2\x82", "bad_utf8"),  # cut inside a character
    (record("string"), b"\x28" + "aé日🚀".encode() * 2, None),
    (record("string"), b"\x26" + b"a" * 17 + b"\xc3" + b"b", "bad_utf8"),  # 19 bytes
    (record("string"), b"\x26" + b"a" * 17 + "é".encode(), None),
    (record(STRINGS), b"\x04\x02a\x02\xff\x00", "bad_utf8"),
    (record(STRINGS), b"\x02\x02a\x00\x00", "trailing_bytes"),
    (record(LONGS), b"\x03\x04\x02\x04\x00", None),  # count -2 with a byte size
    (record(LONGS), b"\x03\x7f\x02\x04\x00", None),  # the byte size is not checked
    (record(LONGS), b"\x03", "truncated"),
    (record(LONGS), b"\xff" * 9 + b"\x01" + b"\x00\x00", "bad_length"),  # -2**63 items
    (record(LONGS), b"\xfe\xff\xff\xff\x0f", "bad_length"),
    (record(LONGS), b"\x08\x02\x04", "truncated"),
    (record(LONGS), b"\x02\x02\x02\x04\x00", None),  # two blocks
    (record(LONGS), b"\x02\x02", "truncated"),  # no closing 0
    (record("long", "string"), b"\x02\x02a\x00", "trailing_bytes"),
]


@pytest.mark.parametrize(("schema", "body", "kind"), CRAFTED)
def test_crafted_bodies(schema: str, body: bytes, kind: str | None) -> None:
    result = decode_both(AvroSchema.parse(schema), {1: schema}, [framed(1, body)])
    assert result.errors.kind == ([] if kind is None else [kind]), result.errors.reason


@pytest.mark.parametrize("last", [b"\x02\xff", b"\x04\xc3\xa9", b"\x06\xe2\x82", b"\x02a\x00"])
def test_short_strings_at_the_very_end_of_the_data(last: bytes) -> None:
    # no bytes to read whole words from past the last body: the careful path runs
    schema = record("string")
    bodies = [b"\x10" + b"abcdefgh"] * 4 + [last]
    decode_both(AvroSchema.parse(schema), {1: schema}, [framed(1, b) for b in bodies])


def test_crafted_bodies_in_one_batch_cover_every_body_kind() -> None:
    schema = record(["null", "string"], COLOR, LONGS, "int", STRINGS)
    good = b"\x02\x02a\x02\x02\x04\x00\x06\x02\x02z\x00"
    bodies = [
        good,
        good + b"\x00",
        b"\x04" + good[1:],
        b"\x02\x02a\x08" + good[4:],
        b"\x02\x01",
        b"\x02\x02\xff" + good[3:],
        b"\x02\x02a\x02" + b"\xff" * 11,
        good[:5],
        good,
    ]
    result = decode_both(AvroSchema.parse(schema), {1: schema}, [framed(1, b) for b in bodies])
    assert result.index.tolist() == [0, 8]
    assert set(result.errors.kind) == {
        "trailing_bytes",
        "bad_union",
        "bad_enum",
        "bad_length",
        "bad_utf8",
        "bad_varint",
        "truncated",
    }


# --- fallback, evolution, batches ----------------------------------------------------


def test_unsupported_schemas_fall_back() -> None:
    everything = AvroSchema.parse(EVERYTHING_TEXT)
    assert decode_native.compile_program(everything.record) is None
    for types in (
        [{"type": "array", "items": ["null", "long"]}],
        [["null", LONGS]],
        [{"type": "map", "values": "long"}],
        [["null", "long", "string"]],
        [{"type": "array", "items": {"type": "fixed", "name": "Empty", "size": 0}}],
        [{"type": "bytes", "logicalType": "decimal", "precision": 4}],
    ):
        try:
            schema = AvroSchema.parse(record(*types))
        except Exception:  # the schema module refuses some of these outright
            continue
        assert decode_native.compile_program(schema.record) is None


def test_everything_schema_decodes_the_same() -> None:
    everything = AvroSchema.parse(EVERYTHING_TEXT)
    parsed = fastavro.parse_schema(strip_logical(json.loads(EVERYTHING_TEXT)))
    bodies = [write_body(parsed, r) for r in random_everything(20, seed=3)]
    bodies[3] = bodies[3][:-1]
    decode_both(everything, {1: EVERYTHING_TEXT}, [framed(1, b) for b in bodies])


@SETTINGS
@given(data=st.data())
def test_evolution_and_many_schema_ids(data: st.DataObject) -> None:
    suite = SUITES["trade"]
    writers = {i: json.dumps(w) for i, w in suite.writers.items()}
    messages: list[bytes | None] = []
    for _ in range(data.draw(st.integers(0, 12))):
        schema_id = data.draw(st.sampled_from([*suite.writers, *UNKNOWN_IDS]))
        writer = suite.writers.get(schema_id, suite.writers[1])
        if schema_id != INCOMPATIBLE:
            assert decode_native.compile_program(AvroSchema.parse(json.dumps(writer)).record)
        value = data.draw(values_of(writer, {}))
        body = write_body(fastavro.parse_schema(strip_logical(writer)), value)
        if data.draw(st.booleans()):
            body = mutate(body, data.draw(mutations()))
        header = b"\x00" + schema_id.to_bytes(4, "big", signed=True)
        messages.append(None if data.draw(st.integers(0, 20)) == 0 else header + body)
    array = pa.array(messages, pa.binary())
    cuts = sorted(data.draw(st.lists(st.integers(0, len(messages)), max_size=3)))
    chunks = [
        array.slice(a, b - a) for a, b in zip([0, *cuts], [*cuts, len(messages)], strict=True)
    ]
    decode_both(suite.reader, writers, array)
    decode_both(suite.reader, writers, pa.chunked_array(chunks, pa.binary()))


def test_empty_batches() -> None:
    decode_both(TRADE, {1: TRADE_TEXT}, [])
    decode_both(TRADE, {1: TRADE_TEXT}, pa.chunked_array([], pa.binary()))


def trade_messages(count: int, seed: int = 1) -> pa.Array:
    table = pa.Table.from_pylist(random_trades(count, seed), schema=TRADE.arrow_schema)
    return frame(1, encode(table, TRADE))


def test_only_bad_messages() -> None:
    messages = [m[:-1] for m in trade_messages(50).to_pylist()]
    result = decode_both(TRADE, {1: TRADE_TEXT}, messages)
    assert len(result.index) == 0 and len(result.errors) == 50


def test_large_batch_with_bad_records_spread_and_large_binary() -> None:
    messages = trade_messages(40_000).to_pylist()
    for i in range(0, len(messages), 997):
        messages[i] = messages[i][:-2] if i % 2 else messages[i] + b"\x01"
    result = decode_both(TRADE, {1: TRADE_TEXT}, messages)
    assert len(result.errors) == len(range(0, len(messages), 997))
    decode_both(TRADE, {1: TRADE_TEXT}, pa.array(messages, pa.large_binary()))
    decode_both(TRADE, {1: TRADE_TEXT}, messages, max_message_bytes=60)


def test_calls_are_split_by_body_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decode_native, "MAX_CALL_BYTES", 1000)
    messages = trade_messages(300).to_pylist()
    messages[150] = messages[150][:-1]
    result = decode_both(TRADE, {1: TRADE_TEXT}, messages)
    assert result.table.column(0).num_chunks > 1


def test_rows_the_numpy_path_keeps_are_woven_back_in_order() -> None:
    messages = trade_messages(5)
    ok_table = Decoder(TRADE, Registry({1: TRADE_TEXT})).decode(messages).table
    offsets = np.arange(6, dtype=np.int64)  # unused by the fake fallback below
    data = np.frombuffer(b"".join(messages.to_pylist()), dtype=np.uint8)
    sizes = np.array([len(m) for m in messages.to_pylist()])
    ends = np.cumsum(sizes)
    starts = ends - sizes + 5
    ends[2] -= 1  # record 2 fails natively; the fake NumPy path keeps it

    def fallback(rows: np.ndarray) -> tuple[pa.Table, np.ndarray]:
        assert rows.tolist() == [2]
        return ok_table.slice(2, 1), np.array([102])

    positions = offsets[:5] + 100
    with native_decode(True):
        woven = decode_native.decode_group(TRADE, data, starts, ends, positions, 1 << 20, fallback)
    table, index = woven or (None, None)
    assert index is not None and index.tolist() == [100, 101, 102, 103, 104]
    assert table is not None and table.equals(ok_table)


def test_switched_off_and_hostile_arguments() -> None:
    none = np.zeros(0, np.int64)
    with native_decode(False):
        assert not decode_native.enabled()
        off = decode_native.decode_group(TRADE, np.zeros(8, np.uint8), none, none, none, 9, print)
        assert off is None
    program = decode_native.compile_program(TRADE.record)
    assert program is not None
    data = np.zeros(8, np.uint8)
    for starts, ends in (([0], [9]), ([-1], [2]), ([3], [2]), ([0, 0], [1])):
        with pytest.raises(ValueError):
            _native.decode(program.code, data, np.array(starts), np.array(ends), 100)
    bad_programs = [b"", program.code[:-8], np.array([99, -1, 0, 0]).tobytes()]
    bad_programs.append(np.array([9, -1, 1, 0]).tobytes())  # array of empty fixed
    for code in bad_programs:
        with pytest.raises(ValueError):
            _native.decode(code, data, np.array([0]), np.array([1]), 100)


def test_threads_decode_at_once() -> None:
    messages = trade_messages(20_000)
    expected = Decoder(TRADE, Registry({1: TRADE_TEXT})).decode(messages)
    results: list[Decoded] = []

    def run() -> None:
        for _ in range(3):
            results.append(Decoder(TRADE, Registry({1: TRADE_TEXT})).decode(messages))

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 9
    for result in results:
        assert_same(result, expected)


@SETTINGS
@given(schema=flat_schemas(), data=st.data())
def test_hostile_bodies_straight_to_the_extension(
    schema: dict[str, Any], data: st.DataObject
) -> None:
    # exact-size buffers, no padding: under -fsanitize=address a read past them is caught
    program = decode_native.compile_program(AvroSchema.parse(json.dumps(schema)).record)
    assert program is not None
    raw = data.draw(st.binary(max_size=64))
    buffer = np.empty(len(raw), dtype=np.uint8)  # malloc'd to the byte
    buffer[:] = np.frombuffer(raw, dtype=np.uint8)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), min_size=1, max_size=11)))
    cuts.append(len(raw))  # the last body ends where the buffer does
    starts, ends = np.array(cuts[:-1], np.int64), np.array(cuts[1:], np.int64)
    ok, kept, columns = _native.decode(program.code, buffer, starts, ends, 1 << 20)
    assert kept == sum(memoryview(ok).tolist()) and len(columns) == len(schema["fields"])


@pytest.mark.parametrize(
    ("types", "raw"),
    [
        (["string"], b"\x04a"),
        (["bytes"], b"\x20" + b"x" * 15),
        ([TWO], b"a"),
        (["double"], b"\x00" * 7),
        (["long"], b"\x80\x80"),
        ([STRINGS], b"\x02\x04a"),
        ([LONGS], b"\x03\x7f\x80"),
        ([["null", "string"]], b"\x02\x06ab"),
    ],
)
def test_lengths_past_the_end_of_an_exact_buffer(types: list[Any], raw: bytes) -> None:
    # each body claims more bytes than the buffer has; under -fsanitize=address any
    # read past the buffer is caught
    program = decode_native.compile_program(AvroSchema.parse(record(*types)).record)
    assert program is not None
    buffer = np.empty(len(raw), dtype=np.uint8)
    buffer[:] = np.frombuffer(raw, dtype=np.uint8)
    ok, kept, _ = _native.decode(program.code, buffer, np.array([0]), np.array([len(raw)]), 99)
    assert kept == 0 and memoryview(ok).tolist() == [0]
