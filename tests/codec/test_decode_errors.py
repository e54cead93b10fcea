"""Every decode failure kind, with its exact reason, among records that still decode."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from lakeforge.codec import ERROR_KINDS, AvroSchema, Decoder
from lakeforge.errors import TransientError
from tests.codec.samples import TRADE_TEXT, Registry, fastavro_schema, framed, write_body

RECORD = {
    "trade_id": 1,
    "symbol": "AAPL",
    "price": 1.5,
    "size": 100,
    "exchange": "NYSE",
    "conditions": ["@"],
    "tape": "C",
    "event_time": 5,
}
# trade_id 0 | symbol 1-5 | price 6-13 | size 14-15 | exchange 16 | conditions 17-20 |
# tape 21-22 | event_time 23
GOOD = write_body(fastavro_schema(TRADE_TEXT), RECORD)
EXCHANGE = "lakeforge.examples.stocks.Exchange"


def with_bytes(at: int, new: bytes, cut: int = 0) -> bytes:
    """GOOD with bytes replaced from ``at`` (``cut`` of them removed first)."""
    return GOOD[:at] + new + GOOD[at + cut :]


def decode_one(schema: AvroSchema, message: bytes | None, **kwargs: int) -> tuple[str, str]:
    """Decode a bad message between two good ones; the bad one's kind and reason."""
    good = framed(1, GOOD)
    values = pa.array([good, message, good], pa.binary())
    result = Decoder(schema, Registry({1: TRADE_TEXT}), **kwargs).decode(values)
    assert result.index.tolist() == [0, 2], result.errors.reason
    assert result.table.column("symbol").to_pylist() == ["AAPL", "AAPL"]
    assert result.errors.index.tolist() == [1]
    return result.errors.kind[0], result.errors.reason[0]


def test_good_body_layout() -> None:
    assert len(GOOD) == 24 and GOOD[16] == 2 and GOOD[17:21] == b"\x02\x02@\x00"


@pytest.mark.parametrize(
    ("message", "kind", "reason"),
    [
        (None, "empty", "the message has no value"),
        (b"", "empty", "the message has no value"),
        (
            b"{}",
            "bad_magic",
            "the message starts with byte 0x7b, not the Confluent magic byte 0x00",
        ),
        (b"\x00\x00\x01", "truncated", "the message has 3 bytes, the Confluent header needs 5"),
        (
            framed(1, GOOD[:10]),
            "truncated",
            "field 'price' needs 8 bytes at body byte 6, body has 10",
        ),
        (
            framed(1, GOOD[:15]),
            "truncated",
            "field 'size' varint runs past the end at body byte 14, body has 15",
        ),
        (
            framed(1, GOOD[:3]),
            "truncated",
            "field 'symbol' needs 4 bytes at body byte 2, body has 3",
        ),
        (
            framed(1, GOOD[:20]),
            "truncated",
            "field 'conditions' item count varint runs past the end at body byte 20, body has 20",
        ),
        (
            framed(1, with_bytes(17, b"\x64", 1)),
            "truncated",
            "field 'conditions' needs at least 50 bytes for 50 items at body byte 18, body has 24",
        ),
        (
            framed(1, with_bytes(17, b"\x0a", 1)),
            "truncated",
            "field 'conditions[3]' needs 5 bytes at body byte 24, body has 24",
        ),
        (
            framed(1, GOOD + b"\x00\x01"),
            "trailing_bytes",
            "2 bytes left after the last field 'event_time' at body byte 24, body has 26",
        ),
        (
            framed(1, with_bytes(16, b"\x7e", 1)),
            "bad_enum",
            f"field 'exchange' has symbol index 63, enum {EXCHANGE} has 15 symbols "
            "at body byte 16, body has 24",
        ),
        (
            framed(1, with_bytes(16, b"\x01", 1)),
            "bad_enum",
            f"field 'exchange' has symbol index -1, enum {EXCHANGE} has 15 symbols "
            "at body byte 16, body has 24",
        ),
        (
            framed(1, with_bytes(1, b"\x01", 1)),
            "bad_length",
            "field 'symbol' has length -1 at body byte 1, body has 24",
        ),
        (
            framed(1, with_bytes(1, b"\x80\x80\x80\x80\x10", 1)),
            "bad_length",
            "field 'symbol' has length 2147483648 at body byte 1, body has 28",
        ),
        (
            framed(1, with_bytes(17, b"\x81\x80\x80\x80\x10", 1)),
            "bad_length",
            "field 'conditions' has a block of 2147483649 items at body byte 17, body has 28",
        ),
        (
            framed(1, with_bytes(4, b"\xff", 1)),
            "bad_utf8",
            "field 'symbol' has invalid UTF-8 (byte 0xff) at body byte 4",
        ),
        (
            framed(1, with_bytes(19, b"\xc3", 1)),
            "bad_utf8",
            "field 'conditions[]' has invalid UTF-8 (byte 0xc3) at body byte 19",
        ),
        (
            framed(1, with_bytes(0, b"\xff" * 11 + b"\x01", 1)),
            "bad_varint",
            "field 'trade_id' varint is longer than 10 bytes at body byte 0, body has 35",
        ),
        (
            framed(1, with_bytes(14, b"\x80\x80\x80\x80\x80\x40", 2)),
            "bad_varint",
            "field 'size' has 1099511627776, which does not fit in an int "
            "at body byte 14, body has 28",
        ),
    ],
)
def test_failure_kinds_and_reasons(
    trade_schema: AvroSchema, message: bytes | None, kind: str, reason: str
) -> None:
    assert decode_one(trade_schema, message) == (kind, f"{kind}: {reason}")


def test_too_large(trade_schema: AvroSchema) -> None:
    message = framed(1, GOOD + b"\x00" * 11)
    assert decode_one(trade_schema, message, max_message_bytes=29) == (
        "too_large",
        "too_large: the message has 40 bytes, more than the limit of 29",
    )


def test_bad_union_branch() -> None:
    schema_text = json.dumps(
        {
            "type": "record",
            "name": "N",
            "fields": [{"name": "a", "type": "long"}, {"name": "n", "type": ["null", "long"]}],
        }
    )
    schema = AvroSchema.parse(schema_text)
    values = pa.array(
        [framed(4, b"\x02\x02\x06"), framed(4, b"\x02\x04\x06"), framed(4, b"\x02\x00")]
    )
    result = Decoder(schema, Registry({4: schema_text})).decode(values)
    assert result.table.to_pylist() == [{"a": 1, "n": 3}, {"a": 1, "n": None}]
    assert result.errors.reason == [
        "bad_union: field 'n' has union branch 2, the union has 2 at body byte 1, body has 3"
    ]


def test_unknown_schema_and_lookup_once_per_id(trade_schema: AvroSchema) -> None:
    registry = Registry({1: TRADE_TEXT})
    decoder = Decoder(trade_schema, registry)
    values = pa.array([framed(1, GOOD), framed(99, GOOD), framed(1, GOOD), framed(99, GOOD)])
    for _ in range(2):
        result = decoder.decode(values)
        assert result.index.tolist() == [0, 2]
        assert result.errors.kind == ["unknown_schema", "unknown_schema"]
        assert result.errors.reason[0] == (
            "unknown_schema: schema id 99 is not in the registry: schema id 99 is not registered"
        )
    assert sorted(registry.calls) == [1, 99]


def test_incompatible_writer_schema(trade_schema: AvroSchema) -> None:
    writer = json.loads(TRADE_TEXT)
    writer["fields"][1]["type"] = "int"
    writer_text = json.dumps(writer)
    body = write_body(fastavro_schema(writer_text), RECORD | {"symbol": 7})
    values = pa.array([framed(1, GOOD), framed(2, body)])
    result = Decoder(trade_schema, Registry({1: TRADE_TEXT, 2: writer_text})).decode(values)
    assert result.index.tolist() == [0]
    assert result.errors.reason == [
        "incompatible_schema: writer schema id 2 cannot be read as "
        "lakeforge.examples.stocks.Trade: "
        "field 'symbol' is int in the writer's schema, string in the reader's"
    ]


def test_unsupported_writer_schema_is_incompatible(trade_schema: AvroSchema) -> None:
    writer = {
        "type": "record",
        "name": "M",
        "fields": [{"name": "m", "type": {"type": "map", "values": "int"}}],
    }
    values = pa.array([framed(3, b"\x00")])
    result = Decoder(trade_schema, Registry({3: json.dumps(writer)})).decode(values)
    assert result.errors.kind == ["incompatible_schema"]
    assert "field 'm' has type map<int>" in result.errors.reason[0]


def test_lookup_failures_other_than_not_found_propagate(trade_schema: AvroSchema) -> None:
    def registry_down(schema_id: int) -> str:
        raise TransientError("registry unreachable")

    with pytest.raises(TransientError):
        Decoder(trade_schema, registry_down).decode(pa.array([framed(1, GOOD)]))


def test_many_kinds_in_one_batch_keep_input_order(trade_schema: AvroSchema) -> None:
    messages = [
        framed(1, GOOD),
        None,
        framed(1, GOOD[:10]),
        framed(1, GOOD),
        b"\x05",
        framed(7, GOOD),
        framed(1, with_bytes(16, b"\x7e", 1)),
        framed(1, GOOD),
    ]
    result = Decoder(trade_schema, Registry({1: TRADE_TEXT})).decode(
        pa.array(messages, pa.binary())
    )
    assert result.index.tolist() == [0, 3, 7]
    assert result.errors.index.tolist() == [1, 2, 4, 5, 6]
    assert result.errors.kind == ["empty", "truncated", "bad_magic", "unknown_schema", "bad_enum"]
    assert set(result.errors.kind) <= set(ERROR_KINDS)
    assert len(result.errors.reason) == 5


def test_bad_records_spread_over_slices(trade_schema: AvroSchema) -> None:
    # bad records in every decoding slice, of every size: the good ones all come through
    bad = [framed(1, GOOD[:10]), framed(1, with_bytes(4, b"\xff", 1)), framed(1, GOOD + b"\x00")]
    messages = [bad[i % 3] if i % 997 == 0 else framed(1, GOOD) for i in range(40_000)]
    result = Decoder(trade_schema, Registry({1: TRADE_TEXT})).decode(pa.array(messages))
    failed = [i for i in range(40_000) if i % 997 == 0]
    assert result.errors.index.tolist() == failed
    assert result.index.tolist() == [i for i in range(40_000) if i % 997]
    assert set(result.table.column("symbol").to_pylist()) == {"AAPL"}
    assert set(result.table.column("conditions").to_pylist()[0]) == {"@"}


def test_timestamp_millis_out_of_range() -> None:
    text = json.dumps(
        {
            "type": "record",
            "name": "T",
            "fields": [{"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}}],
        }
    )
    bodies = [b"\x03", b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"]  # -2, then -2**63 ms
    result = Decoder(AvroSchema.parse(text), Registry({1: text})).decode(
        pa.array([framed(1, body) for body in bodies])
    )
    assert result.table.column("at").cast(pa.int64()).to_pylist() == [-2000]
    assert result.errors.reason == [
        "bad_varint: field 'at' has -9223372036854775808 ms, out of the timestamp range "
        "at body byte 0, body has 10"
    ]
