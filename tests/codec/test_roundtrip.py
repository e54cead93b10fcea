"""Round trips against fastavro: our bodies read by fastavro, fastavro's bodies read by us."""

from __future__ import annotations

import json

import fastavro
import numpy as np
import pyarrow as pa
import pytest

from lakeforge.codec import AvroSchema, Decoder, encode, frame
from tests.codec.samples import (
    EVERYTHING_TEXT,
    TRADE_TEXT,
    Registry,
    fastavro_schema,
    framed,
    millis_to_micros,
    normalise,
    random_everything,
    random_trades,
    raw_rows,
    read_body,
    strip_logical,
    write_body,
)


def arrow_table(schema: AvroSchema, records: list[dict], millis: tuple[str, ...] = ()) -> pa.Table:
    """The Arrow table of raw Avro records (timestamp-millis scaled to micros)."""
    return pa.Table.from_pylist(millis_to_micros(records, millis), schema=schema.arrow_schema)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_encoded_trades_read_back_by_fastavro(trade_schema: AvroSchema, seed: int) -> None:
    records = random_trades(500, seed)
    bodies = encode(arrow_table(trade_schema, records), trade_schema)
    parsed = fastavro_schema(TRADE_TEXT)
    assert [normalise(read_body(parsed, body)) for body in bodies.to_pylist()] == normalise(records)


@pytest.mark.parametrize("seed", [1, 2])
def test_encoding_is_byte_for_byte_fastavros(everything_schema: AvroSchema, seed: int) -> None:
    # fastavro writes canonical bodies too: one block per array, then 0
    records = random_everything(300, seed)
    parsed = fastavro_schema(EVERYTHING_TEXT)
    bodies = encode(arrow_table(everything_schema, records, ("ts_ms",)), everything_schema)
    assert bodies.to_pylist() == [write_body(parsed, record) for record in records]


def test_trade_bodies_are_byte_for_byte_fastavros(trade_schema: AvroSchema) -> None:
    records = random_trades(1000, 7)
    parsed = fastavro_schema(TRADE_TEXT)
    bodies = encode(arrow_table(trade_schema, records), trade_schema)
    assert bodies.to_pylist() == [write_body(parsed, record) for record in records]


def test_encode_spans_several_slices(trade_schema: AvroSchema) -> None:
    records = random_trades(200, 4) * 400  # 80,000 rows: more than one encoding slice
    bodies = encode(arrow_table(trade_schema, records), trade_schema)
    parsed = fastavro_schema(TRADE_TEXT)
    assert len(bodies) == 80_000
    for i in (0, 65_535, 65_536, 79_999):
        assert normalise(read_body(parsed, bodies[i].as_py())) == normalise(records[i % 200])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fastavro_trades_decode(trade_schema: AvroSchema, seed: int) -> None:
    records = random_trades(500, seed)
    parsed = fastavro_schema(TRADE_TEXT)
    values = pa.array([framed(3, write_body(parsed, record)) for record in records], pa.binary())
    result = Decoder(trade_schema, Registry({3: TRADE_TEXT})).decode(values)
    assert len(result.errors) == 0
    assert result.table.schema == trade_schema.arrow_schema
    assert raw_rows(result.table) == normalise(records)
    assert result.index.tolist() == list(range(500))
    assert result.schema_ids.tolist() == [3] * 500


@pytest.mark.parametrize("seed", [1, 2])
def test_fastavro_everything_decodes(everything_schema: AvroSchema, seed: int) -> None:
    records = random_everything(400, seed)
    parsed = fastavro_schema(EVERYTHING_TEXT)
    values = pa.array([framed(9, write_body(parsed, record)) for record in records])
    result = Decoder(everything_schema, Registry({9: EVERYTHING_TEXT})).decode(values)
    assert len(result.errors) == 0
    assert result.table.schema == everything_schema.arrow_schema
    assert raw_rows(result.table) == normalise(millis_to_micros(records))


def test_decode_then_encode_gives_the_same_bytes(everything_schema: AvroSchema) -> None:
    parsed = fastavro_schema(EVERYTHING_TEXT)
    bodies = [write_body(parsed, record) for record in random_everything(200, 5)]
    result = Decoder(everything_schema, Registry({1: EVERYTHING_TEXT})).decode(
        pa.array([framed(1, body) for body in bodies])
    )
    assert encode(result.table, everything_schema).to_pylist() == bodies


def _part_of_trade(names: list[str], record: dict) -> bytes:
    """fastavro's bytes of some of a trade's fields, written as a record of just those."""
    schema = json.loads(TRADE_TEXT)
    schema["fields"] = [f for f in schema["fields"] if f["name"] in names]
    parsed = fastavro.parse_schema(strip_logical(schema))
    return write_body(parsed, {name: record[name] for name in names})


def test_decode_reads_multi_block_and_sized_arrays(trade_schema: AvroSchema) -> None:
    # Avro writers may split arrays in blocks; a negative count is followed by a byte size
    record = random_trades(1, 1)[0]
    blocks = b"\x02\x02@" + b"\x03\x08\x02I\x02F" + b"\x00"  # 1 item, then -2 items (4 bytes)
    head = _part_of_trade(["trade_id", "symbol", "price", "size", "exchange"], record)
    tail = _part_of_trade(["tape", "event_time"], record)
    body = head + blocks + tail
    assert read_body(fastavro_schema(TRADE_TEXT), body)["conditions"] == ["@", "I", "F"]
    result = Decoder(trade_schema, Registry({1: TRADE_TEXT})).decode(pa.array([framed(1, body)]))
    assert result.table.column("conditions").to_pylist() == [["@", "I", "F"]]
    assert raw_rows(result.table)[0]["event_time"] == record["event_time"]


def test_chunked_input_keeps_positions(trade_schema: AvroSchema) -> None:
    parsed = fastavro_schema(TRADE_TEXT)
    messages = [framed(1, write_body(parsed, record)) for record in random_trades(30, 2)]
    messages[12] = b"\x01junk"
    chunked = pa.chunked_array([messages[:10], messages[10:25], messages[25:]], pa.binary())
    result = Decoder(trade_schema, Registry({1: TRADE_TEXT})).decode(chunked)
    assert result.index.tolist() == [i for i in range(30) if i != 12]
    assert result.errors.index.tolist() == [12]
    assert result.table.num_rows == 29


def test_empty_batch(trade_schema: AvroSchema) -> None:
    result = Decoder(trade_schema, Registry({})).decode(pa.array([], pa.binary()))
    assert result.table.num_rows == 0
    assert result.table.schema == trade_schema.arrow_schema
    assert len(result.errors) == 0
    assert encode(result.table, trade_schema).to_pylist() == []


def test_frame_prefixes_magic_and_big_endian_id() -> None:
    bodies = pa.array([b"", b"abc"], pa.binary())
    assert frame(0x01020304, bodies).to_pylist() == [
        b"\x00\x01\x02\x03\x04",
        b"\x00\x01\x02\x03\x04abc",
    ]
    with pytest.raises(ValueError):
        frame(-1, bodies)


def test_encode_accepts_record_batches_and_wider_types(trade_schema: AvroSchema) -> None:
    records = random_trades(20, 9)
    table = arrow_table(trade_schema, records)
    widened = table.set_column(3, "size", table.column("size").cast(pa.int64()))
    widened = widened.set_column(1, "symbol", widened.column("symbol").cast(pa.large_string()))
    widened = widened.set_column(4, "exchange", widened.column("exchange").dictionary_encode())
    expected = encode(table, trade_schema).to_pylist()
    assert encode(widened, trade_schema).to_pylist() == expected
    assert encode(widened.to_batches()[0], trade_schema).to_pylist() == expected


def test_unicode_and_empty_values_survive(trade_schema: AvroSchema) -> None:
    record = random_trades(1, 3)[0] | {
        "symbol": "日本株🚀",
        "conditions": ["", "é", ""],
        "tape": "",
    }
    table = arrow_table(trade_schema, [record])
    values = frame(5, encode(table, trade_schema))
    result = Decoder(trade_schema, Registry({5: TRADE_TEXT})).decode(values)
    assert raw_rows(result.table) == normalise([record])


def test_decoded_columns_are_not_nullable_unless_the_schema_says(
    everything_schema: AvroSchema,
) -> None:
    nullable = {f.name for f in everything_schema.arrow_schema if f.nullable}
    assert nullable == {"ns", "nl", "maybe_point", "maybe_colors"}
    assert np.all(
        [
            f.type == everything_schema.arrow_schema.field(f.name).type
            for f in everything_schema.arrow_schema
        ]
    )


def test_schema_from_text_and_file_agree(trade_schema: AvroSchema) -> None:
    assert AvroSchema.parse(TRADE_TEXT) == trade_schema


def test_strings_of_every_length_round_trip() -> None:
    # short strings and long ones take different copying paths in the decoder
    text = json.dumps(
        {
            "type": "record",
            "name": "S",
            "fields": [
                {"name": "s", "type": "string"},
                {"name": "b", "type": "bytes"},
                {"name": "many", "type": {"type": "array", "items": "string"}},
            ],
        }
    )
    schema = AvroSchema.parse(text)
    parsed = fastavro_schema(text)
    records = [
        {"s": "é" * (n % 23), "b": bytes(range(n % 40)), "many": ["x" * (n % 17)] * (n % 3)}
        for n in range(300)
    ]
    values = pa.array([framed(1, write_body(parsed, r)) for r in records])
    result = Decoder(schema, Registry({1: text})).decode(values)
    assert result.table.to_pylist() == records
    assert encode(result.table, schema).to_pylist() == [write_body(parsed, r) for r in records]
    broken = write_body(parsed, {"s": "a" * 30, "b": b"", "many": []}).replace(
        b"a" * 30, b"a" * 29 + b"\xff"
    )
    bad = Decoder(schema, Registry({1: text})).decode(
        pa.array([framed(1, broken), *values.to_pylist()])
    )
    assert bad.errors.reason == [
        "bad_utf8: field 's' has invalid UTF-8 (byte 0xff) at body byte 30"
    ]
    assert bad.table.num_rows == 300


def test_long_strings_in_a_batch_of_several_slices() -> None:
    # a large batch is read in place (not copied); long strings are copied by Arrow
    text = json.dumps(
        {
            "type": "record",
            "name": "L",
            "fields": [{"name": "s", "type": "string"}, {"name": "n", "type": "long"}],
        }
    )
    parsed = fastavro_schema(text)
    records = [{"s": "x" * (n % 50) + "é", "n": n} for n in range(40_000)]
    values = pa.array([framed(2, write_body(parsed, r)) for r in records])
    result = Decoder(AvroSchema.parse(text), Registry({2: text})).decode(values)
    assert len(result.errors) == 0
    assert result.table.to_pylist() == records


def test_encode_with_confluent_prefix_equals_frame() -> None:
    from pathlib import Path

    from lakeforge.codec import AvroSchema, confluent_header, encode, frame
    from lakeforge.source.trades import TradeGenerator

    schema = AvroSchema.load(Path(__file__).parents[2] / "examples/stocks/schemas/trade.avsc")
    trades = TradeGenerator(seed=2).next_batch(70_000, 0, 10**9)
    framed = frame(7, encode(trades, schema))
    assert encode(trades, schema, prefix=confluent_header(7)).equals(framed)
