"""Schema evolution, checked against fastavro's own schema resolution."""

from __future__ import annotations

import io
import json
from typing import Any

import fastavro
import pyarrow as pa

from lakeforge.codec import AvroSchema, Decoder
from tests.codec.samples import Registry, framed, normalise, raw_rows, write_body

POINT_V1 = {"type": "record", "name": "Point", "fields": [{"name": "x", "type": "int"}]}
POINT_V2 = {
    "type": "record",
    "name": "Point",
    "fields": [{"name": "x", "type": "long"}, {"name": "y", "type": "double", "default": 0.5}],
}
V1 = {
    "type": "record",
    "name": "Tick",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "qty", "type": "int"},
        {"name": "ratio", "type": "float"},
        {"name": "note", "type": "string"},
        {"name": "dropped", "type": "string"},
        {
            "name": "side",
            "type": {"type": "enum", "name": "Side", "symbols": ["BUY", "SELL", "CROSS"]},
        },
        {"name": "points", "type": {"type": "array", "items": POINT_V1}},
        {"name": "old_name", "type": "int"},
    ],
}
V2 = {
    "type": "record",
    "name": "Tick",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "venue", "type": ["null", "string"], "default": None},
        {"name": "qty", "type": "long"},
        {"name": "ratio", "type": "double"},
        {"name": "note", "type": "bytes"},
        {"name": "level", "type": "int", "default": 3},
        {"name": "tags", "type": {"type": "array", "items": "string"}, "default": []},
        {
            "name": "side",
            "type": {
                "type": "enum",
                "name": "Side",
                "symbols": ["BUY", "SELL", "OTHER"],
                "default": "OTHER",
            },
        },
        {"name": "points", "type": {"type": "array", "items": POINT_V2}},
        {"name": "new_name", "type": "long", "aliases": ["old_name"]},
    ],
}


def v1_record(n: int) -> dict[str, Any]:
    return {
        "id": n,
        "qty": -(2**31) + n,
        "ratio": 0.25 * n,
        "note": f"n{n}é",
        "dropped": "gone",
        "side": ["BUY", "SELL", "CROSS"][n % 3],
        "points": [{"x": n + k} for k in range(n % 3)],
        "old_name": n * 7,
    }


def v2_record(n: int) -> dict[str, Any]:
    return {
        "id": 1000 + n,
        "venue": None if n % 2 else "XNYS",
        "qty": 2**40 + n,
        "ratio": 1e300,
        "note": b"\xff\x00",
        "level": n,
        "tags": ["a"] * (n % 2),
        "side": "OTHER",
        "points": [{"x": 2**33, "y": -1.0}],
        "new_name": -n,
    }


def fastavro_resolved(
    writer: dict[str, Any], reader: dict[str, Any], body: bytes
) -> dict[str, Any]:
    source = io.BytesIO(body)
    return fastavro.schemaless_reader(
        source, fastavro.parse_schema(writer), fastavro.parse_schema(reader)
    )


def test_mixed_versions_resolve_as_fastavro_does() -> None:
    bodies = []
    for n in range(40):
        if n % 3 == 0:
            bodies.append((2, V2, write_body(fastavro.parse_schema(V2), v2_record(n))))
        else:
            bodies.append((1, V1, write_body(fastavro.parse_schema(V1), v1_record(n))))
    registry = Registry({1: json.dumps(V1), 2: json.dumps(V2)})
    reader = AvroSchema.parse(json.dumps(V2))
    result = Decoder(reader, registry).decode(pa.array([framed(i, body) for i, _, body in bodies]))
    assert len(result.errors) == 0, result.errors.reason
    assert result.index.tolist() == list(range(40))
    assert result.schema_ids.tolist() == [i for i, _, _ in bodies]
    assert result.table.schema == reader.arrow_schema
    expected = [fastavro_resolved(writer, V2, body) for _, writer, body in bodies]
    assert raw_rows(result.table) == normalise(expected)
    assert sorted(registry.calls) == [1, 2]


def test_unknown_enum_symbol_without_default_fails_only_its_record() -> None:
    reader = json.loads(json.dumps(V2))
    del reader["fields"][7]["type"]["default"]
    parsed = fastavro.parse_schema(V1)
    bodies = [write_body(parsed, v1_record(n)) for n in range(6)]  # n % 3 == 2 is CROSS
    result = Decoder(AvroSchema.parse(json.dumps(reader)), Registry({1: json.dumps(V1)})).decode(
        pa.array([framed(1, body) for body in bodies])
    )
    assert result.index.tolist() == [0, 1, 3, 4]
    assert result.errors.index.tolist() == [2, 5]
    assert result.errors.reason[0] == (
        "incompatible_schema: field 'side' has symbol 'CROSS', which the reader's enum Side "
        "lacks and has no default for"
    )


def test_null_into_a_non_nullable_field_fails_only_its_record() -> None:
    writer = {"type": "record", "name": "R", "fields": [{"name": "a", "type": ["null", "long"]}]}
    reader = {"type": "record", "name": "R", "fields": [{"name": "a", "type": "long"}]}
    parsed = fastavro.parse_schema(writer)
    values = pa.array([framed(1, write_body(parsed, {"a": v})) for v in (1, None, 3)])
    result = Decoder(
        AvroSchema.parse(json.dumps(reader)), Registry({1: json.dumps(writer)})
    ).decode(values)
    assert result.table.column("a").to_pylist() == [1, 3]
    assert result.errors.kind == ["incompatible_schema"]
    assert result.errors.reason == [
        "incompatible_schema: field 'a' is null, which the reader's long cannot hold"
    ]


def test_reader_field_without_default_missing_in_writer_refuses_the_writer() -> None:
    writer = {"type": "record", "name": "R", "fields": [{"name": "a", "type": "long"}]}
    reader = {
        "type": "record",
        "name": "R",
        "fields": [{"name": "a", "type": "long"}, {"name": "b", "type": "long"}],
    }
    values = pa.array([framed(5, b"\x02")] * 3)
    result = Decoder(
        AvroSchema.parse(json.dumps(reader)), Registry({5: json.dumps(writer)})
    ).decode(values)
    assert result.table.num_rows == 0
    assert result.errors.kind == ["incompatible_schema"] * 3
    assert result.errors.reason[0] == (
        "incompatible_schema: writer schema id 5 cannot be read as R: "
        "field 'b' is missing in the writer's schema and has no default"
    )


def test_timestamp_millis_writer_read_as_micros() -> None:
    def schema(logical: str) -> dict[str, Any]:
        return {
            "type": "record",
            "name": "T",
            "fields": [{"name": "at", "type": {"type": "long", "logicalType": logical}}],
        }

    writer, reader = schema("timestamp-millis"), schema("timestamp-micros")
    values = pa.array([framed(1, b"\x03")])  # -2 ms
    result = Decoder(
        AvroSchema.parse(json.dumps(reader)), Registry({1: json.dumps(writer)})
    ).decode(values)
    assert result.table.column("at").cast(pa.int64()).to_pylist() == [-2000]


def test_long_read_as_timestamp_millis_fails_out_of_range_values() -> None:
    writer = {"type": "record", "name": "T", "fields": [{"name": "at", "type": "long"}]}
    reader = {
        "type": "record",
        "name": "T",
        "fields": [{"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}}],
    }
    bodies = [b"\x04", b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", b"\x03"]  # 2, -2**63, -2
    values = pa.array([framed(1, body) for body in bodies])
    result = Decoder(
        AvroSchema.parse(json.dumps(reader)), Registry({1: json.dumps(writer)})
    ).decode(values)
    assert result.table.column("at").cast(pa.int64()).to_pylist() == [2000, -2000]
    assert result.errors.reason == [
        "bad_varint: field 'at' has -9223372036854775808 ms, out of the timestamp range"
    ]
