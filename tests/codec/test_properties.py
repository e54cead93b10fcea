"""Property tests: any input bytes are decoded or failed, never raised, and agree with fastavro."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lakeforge.codec import ERROR_KINDS, AvroSchema, Decoded, Decoder, encode
from tests.codec.samples import (
    EVERYTHING,
    EVERYTHING_TEXT,
    TRADE_TEXT,
    Registry,
    fastavro_schema,
    framed,
    millis_to_micros,
    normalise,
    raw_rows,
    read_body,
    write_body,
)

SCHEMAS = {
    "trade": (AvroSchema.parse(TRADE_TEXT), fastavro_schema(TRADE_TEXT), json.loads(TRADE_TEXT)),
    "everything": (AvroSchema.parse(EVERYTHING_TEXT), fastavro_schema(EVERYTHING_TEXT), EVERYTHING),
}
PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def values_of(schema: Any, named: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Raw Avro values of a schema in JSON form (written independently of lakeforge)."""
    if isinstance(schema, list):
        return st.one_of([values_of(branch, named) for branch in schema])
    if isinstance(schema, str):
        if schema in named:
            return named[schema]
        return {
            "null": st.none(),
            "boolean": st.booleans(),
            "int": st.integers(-(2**31), 2**31 - 1),
            "long": st.integers(-(2**63), 2**63 - 1),
            "float": st.floats(width=32),
            "double": st.floats(),
            "string": st.text(max_size=6),
            "bytes": st.binary(max_size=6),
        }[schema]
    kind = schema["type"]
    if schema.get("logicalType") == "timestamp-millis":
        return st.integers(-(2**53), 2**53)  # in micros it must still fit a long
    if kind == "enum":
        named[schema["name"]] = strategy = st.sampled_from(schema["symbols"])
    elif kind == "fixed":
        named[schema["name"]] = strategy = st.binary(
            min_size=schema["size"], max_size=schema["size"]
        )
    elif kind == "array":
        strategy = st.lists(values_of(schema["items"], named), max_size=3)
    elif kind == "record":
        fields = {f["name"]: values_of(f["type"], named) for f in schema["fields"]}
        named[schema["name"]] = strategy = st.fixed_dictionaries(fields)
    else:
        strategy = values_of(kind, named)
    return strategy


RECORDS = {name: values_of(raw, {}) for name, (_, _, raw) in SCHEMAS.items()}


def check_conservation(result: Decoded, count: int) -> None:
    """Every input position is decoded or failed, exactly once, in input order."""
    positions = np.concatenate([result.index, result.errors.index])
    assert sorted(positions.tolist()) == list(range(count))
    assert result.table.num_rows == len(result.index) == len(result.schema_ids)
    assert np.all(np.diff(result.index) > 0) and np.all(np.diff(result.errors.index) > 0)
    assert len(result.errors.kind) == len(result.errors.reason) == len(result.errors)
    for kind, reason in zip(result.errors.kind, result.errors.reason, strict=True):
        assert kind in ERROR_KINDS and reason.startswith(f"{kind}: ")


def fastavro_is_lenient(kind: str, reason: str) -> bool:
    """Bodies fastavro reads but that are not valid Avro; we refuse them on purpose."""
    return (
        # fastavro indexes symbol and branch lists with Python, so -1 is the last one
        (kind == "bad_enum" and "symbol index -" in reason)
        or (kind == "bad_union" and "union branch -" in reason)
        # fastavro's C reader keeps reading varints past 10 bytes, and reads an int as a long
        or (kind == "bad_varint" and "longer than 10 bytes" in reason)
        or (kind == "bad_varint" and "does not fit in an int" in reason)
        # not leniency but range: fastavro sees raw millis, we hold micros in 64 bits
        or (kind == "bad_varint" and "out of the timestamp range" in reason)
    )


def check_against_fastavro(name: str, bodies: list[bytes | None], result: Decoded) -> None:
    """Rows we decode are fastavro's; bodies fastavro reads exactly we decode too."""
    _, parsed, _ = SCHEMAS[name]
    decoded = dict(zip(result.index.tolist(), raw_rows(result.table), strict=True))
    failed = dict(
        zip(
            result.errors.index.tolist(),
            zip(result.errors.kind, result.errors.reason, strict=True),
            strict=True,
        )
    )
    for position, body in enumerate(bodies):
        reference = None if body is None else read_body(parsed, body)
        if position in decoded:
            assert reference is not None, f"decoded a body fastavro refuses: {body!r}"
            assert decoded[position] == normalise(millis_to_micros([reference])[0])
        elif reference is not None:
            kind, reason = failed[position]
            assert fastavro_is_lenient(kind, reason), (body, reason)


def decode(name: str, messages: list[bytes | None]) -> Decoded:
    schema, _, _ = SCHEMAS[name]
    text = TRADE_TEXT if name == "trade" else EVERYTHING_TEXT
    return Decoder(schema, Registry({1: text})).decode(pa.array(messages, pa.binary()))


@PROPERTY_SETTINGS
@given(
    name=st.sampled_from(sorted(SCHEMAS)),
    messages=st.lists(st.none() | st.binary(max_size=40), max_size=12),
    add_header=st.booleans(),
)
def test_random_bytes(name: str, messages: list[bytes | None], add_header: bool) -> None:
    if add_header:
        messages = [None if m is None else framed(1, m) for m in messages]
    result = decode(name, messages)
    check_conservation(result, len(messages))
    bodies = [m[5:] if m is not None and m[:5] == framed(1, b"") else None for m in messages]
    check_against_fastavro(name, bodies, result)


def mutations() -> st.SearchStrategy[Any]:
    flip = st.tuples(st.just("flip"), st.integers(0, 10_000), st.integers(0, 7))
    cut = st.tuples(st.just("cut"), st.integers(0, 10_000), st.just(0))
    extend = st.tuples(st.just("extend"), st.binary(min_size=1, max_size=4), st.just(0))
    splice = st.tuples(st.just("splice"), st.integers(0, 10_000), st.binary(min_size=1, max_size=3))
    return st.lists(flip | cut | extend | splice, max_size=3)


def mutate(body: bytes, steps: list[tuple[str, Any, Any]]) -> bytes:
    data = bytearray(body)
    for step, a, b in steps:
        if step == "flip" and data:
            data[a % len(data)] ^= 1 << b
        elif step == "cut":
            del data[a % (len(data) + 1) :]
        elif step == "extend":
            data += a
        elif step == "splice":
            at = a % (len(data) + 1)
            data[at:at] = b
    return bytes(data)


@settings(PROPERTY_SETTINGS, max_examples=300)
@given(
    name=st.sampled_from(sorted(SCHEMAS)),
    data=st.data(),
)
def test_mutated_records(name: str, data: st.DataObject) -> None:
    _, parsed, _ = SCHEMAS[name]
    records = data.draw(st.lists(RECORDS[name], min_size=1, max_size=6))
    bodies = [write_body(parsed, record) for record in records]
    for i in data.draw(st.sets(st.integers(0, len(bodies) - 1))):
        bodies[i] = mutate(bodies[i], data.draw(mutations()))
    result = decode(name, [framed(1, body) for body in bodies])
    check_conservation(result, len(bodies))
    check_against_fastavro(name, list(bodies), result)


@PROPERTY_SETTINGS
@given(name=st.sampled_from(sorted(SCHEMAS)), data=st.data())
def test_encode_is_fastavros_encoding(name: str, data: st.DataObject) -> None:
    schema, parsed, _ = SCHEMAS[name]
    records = data.draw(st.lists(RECORDS[name], max_size=6))
    table = pa.Table.from_pylist(millis_to_micros(records), schema=schema.arrow_schema)
    assert encode(table, schema).to_pylist() == [write_body(parsed, r) for r in records]
