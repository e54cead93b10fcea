"""Hostile input, property-tested: the Decoder accounts for every message, precisely.

Whatever bytes arrive (random, framed or not, under any schema id, valid records with
bits flipped, cut short, grown or spliced) and however the batch is laid out (chunks,
slices, large_binary), the Decoder never raises: every input position comes out once,
either as a row or as an error whose kind and reason say precisely what was wrong
(the exact framing fault, the field and the body byte). Every row it does decode is what
fastavro, the independent reference, reads from the same bytes with the same writer
and reader schemas; records written with lakeforge's own encoder always decode.

Writers besides the reader's own schema exercise schema resolution on hostile bytes:
a reordered writer with a nullable field and an extra field, a writer whose values
are promoted (int to long, float to double) with an enum symbol the reader lacks, and
an incompatible writer.
"""

from __future__ import annotations

import copy
import io
import json
import re
import struct
from dataclasses import dataclass
from typing import Any

import fastavro
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from lakeforge.codec import ERROR_KINDS, AvroSchema, Decoded, Decoder, encode, frame
from tests.codec.samples import (
    EVERYTHING,
    TRADE_TEXT,
    Registry,
    millis_to_micros,
    normalise,
    raw_rows,
    strip_logical,
)
from tests.codec.test_properties import fastavro_is_lenient, mutate, mutations, values_of

HOSTILE_SETTINGS = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
#: Schema ids no registry holds: the unknown one, 0, and the sign bit set.
UNKNOWN_IDS = (999, 0, -1)
#: The writer registered with each id, as in every suite below.
OWN, EVOLVED, PROMOTED, INCOMPATIBLE = 1, 2, 3, 4


def variant(
    schema: dict[str, Any],
    types: dict[str, Any],
    first: tuple[str, ...] = (),
    extra: tuple[dict[str, Any], ...] = (),
) -> dict[str, Any]:
    """A writer schema: ``schema`` with some field types changed, fields moved first,
    and extra fields (which the reader drops) inserted after the first field."""
    out = copy.deepcopy(schema)
    fields = out["fields"]
    for field in fields:
        if field["name"] in types:
            field["type"] = types[field["name"]]
            field.pop("default", None)
    moved = [f for f in fields if f["name"] in first]
    rest = [f for f in fields if f["name"] not in first]
    out["fields"] = moved + rest[:1] + list(extra) + rest[1:]
    return out


TRADE = json.loads(TRADE_TEXT)
EXCHANGE = next(f for f in TRADE["fields"] if f["name"] == "exchange")["type"]


@dataclass(frozen=True)
class Suite:
    """A reader schema and the writer schemas registered beside it, by id."""

    reader: AvroSchema
    writers: dict[int, dict[str, Any]]
    #: The whole reason for a message under the INCOMPATIBLE id.
    incompatible: str

    def registry(self) -> Registry:
        return Registry({i: json.dumps(w) for i, w in self.writers.items()})

    def writer_fields(self, schema_id: int) -> set[str]:
        return {f["name"] for f in self.writers[schema_id]["fields"]}


SUITES = {
    "trade": Suite(
        AvroSchema.parse(TRADE_TEXT),
        {
            OWN: TRADE,
            EVOLVED: variant(
                TRADE,
                {"price": ["null", "double"]},
                first=("tape",),
                extra=({"name": "venue_seq", "type": "long"},),
            ),
            PROMOTED: variant(
                TRADE,
                {
                    "trade_id": "int",
                    "price": "float",
                    "exchange": {**EXCHANGE, "symbols": [*EXCHANGE["symbols"], "OTC"]},
                },
            ),
            INCOMPATIBLE: variant(TRADE, {"price": "string"}),
        },
        "incompatible_schema: writer schema id 4 cannot be read as "
        "lakeforge.examples.stocks.Trade: field 'price' is string in the writer's schema, "
        "double in the reader's",
    ),
    "everything": Suite(
        AvroSchema.parse(json.dumps(EVERYTHING)),
        {
            OWN: EVERYTHING,
            EVOLVED: variant(
                EVERYTHING,
                {"s": ["null", "string"]},
                first=("nl", "b"),
                extra=({"name": "notes", "type": {"type": "array", "items": "string"}},),
            ),
            PROMOTED: variant(EVERYTHING, {"l": "int", "d": "float", "i": "int"}),
            INCOMPATIBLE: variant(EVERYTHING, {"s": "long"}),
        },
        "incompatible_schema: writer schema id 4 cannot be read as test.Everything: "
        "field 's' is long in the writer's schema, string in the reader's",
    ),
}
PARSED = {
    (name, schema_id): fastavro.parse_schema(strip_logical(writer))
    for name, suite in SUITES.items()
    for schema_id, writer in suite.writers.items()
}
#: Raw Avro values (fastavro's form) of each writer schema, drawn independently of lakeforge.
RECORDS = {
    (name, schema_id): values_of(writer, {})
    for name, suite in SUITES.items()
    for schema_id, writer in suite.writers.items()
    if schema_id != INCOMPATIBLE
}


def header(schema_id: int) -> bytes:
    return b"\x00" + struct.pack(">i", schema_id)


def reference(name: str, message: bytes | None) -> dict[str, Any] | None:
    """fastavro's reading of a framed message with its writer's and the reader's schemas.

    None when the message is not framed with a registered, compatible writer's id, or
    when fastavro refuses the body or does not read it exactly to its end.
    """
    if message is None or len(message) < 5 or message[0] != 0:
        return None
    schema_id = struct.unpack(">i", message[1:5])[0]
    if schema_id not in SUITES[name].writers or schema_id == INCOMPATIBLE:
        return None
    source = io.BytesIO(message[5:])
    try:
        record = fastavro.schemaless_reader(source, PARSED[name, schema_id], PARSED[name, OWN])
    except Exception:
        return None
    if source.tell() != len(message) - 5:
        return None
    return normalise(millis_to_micros([record])[0])


_BODY_KINDS = {
    "truncated",
    "trailing_bytes",
    "bad_union",
    "bad_enum",
    "bad_length",
    "bad_varint",
    "bad_utf8",
}
_WHERE = re.compile(r" at body byte (\d+)(?:, body has (\d+))?$")


def check_reason(
    suite: Suite, message: bytes | None, kind: str, reason: str, max_bytes: int
) -> None:
    """The reason of a failed message says precisely what is wrong with it."""
    assert kind in ERROR_KINDS and reason.startswith(f"{kind}: "), reason
    size = 0 if message is None else len(message)
    if kind == "empty":
        assert size == 0 and reason == "empty: the message has no value"
        return
    assert message is not None, reason
    if kind == "too_large":
        assert size > max_bytes
        assert reason == (
            f"too_large: the message has {size} bytes, more than the limit of {max_bytes}"
        )
        return
    assert size <= max_bytes, reason  # a message over the limit is never read
    if kind == "bad_magic":
        assert reason == (
            f"bad_magic: the message starts with byte 0x{message[0]:02x}, "
            "not the Confluent magic byte 0x00"
        )
        return
    assert message[0] == 0, reason
    if size < 5:
        unit = "byte" if size == 1 else "bytes"
        assert reason == f"truncated: the message has {size} {unit}, the Confluent header needs 5"
        return
    schema_id = struct.unpack(">i", message[1:5])[0]
    if kind == "unknown_schema":
        assert schema_id not in suite.writers
        assert reason == (
            f"unknown_schema: schema id {schema_id} is not in the registry: "
            f"schema id {schema_id} is not registered"
        )
        return
    assert schema_id in suite.writers, reason
    if schema_id == INCOMPATIBLE:
        assert reason == suite.incompatible
        return
    # a value: the field it is in (a field of the writer's schema), and where it is
    field = re.search(r"field '([A-Za-z_]\w*)", reason)
    assert field is not None and field.group(1) in suite.writer_fields(schema_id), reason
    if kind == "incompatible_schema":
        # resolved values: a null for a non-nullable field, an enum symbol the reader lacks
        assert re.search(r"is null, which|has symbol '.*', which the reader's enum", reason)
        return
    assert kind in _BODY_KINDS, reason
    where = _WHERE.search(reason)
    if kind in ("truncated", "trailing_bytes", "bad_union", "bad_enum", "bad_length"):
        assert where is not None and where.group(2) is not None, reason
    if where is not None:
        assert int(where.group(1)) <= size - 5, reason
        if where.group(2) is not None:
            assert int(where.group(2)) == size - 5, reason


def check_decoded(
    name: str, messages: list[bytes | None], result: Decoded, max_bytes: int = 1_048_576
) -> None:
    """Every message decoded or failed exactly once; rows fastavro's, reasons precise."""
    suite = SUITES[name]
    count = len(messages)
    # conservation: every position once, in input order, nothing dropped or invented
    assert len(result.index) + len(result.errors) == count
    assert sorted([*result.index.tolist(), *result.errors.index.tolist()]) == list(range(count))
    assert np.all(np.diff(result.index) > 0) and np.all(np.diff(result.errors.index) > 0)
    assert result.table.num_rows == len(result.index) == len(result.schema_ids)
    assert result.table.schema == suite.reader.arrow_schema
    assert len(result.errors.kind) == len(result.errors.reason) == len(result.errors)
    # decoded rows: framed with their writer's id, and what fastavro reads
    rows = raw_rows(result.table) if result.table.num_rows else []
    for position, schema_id, row in zip(
        result.index.tolist(), result.schema_ids.tolist(), rows, strict=True
    ):
        message = messages[position]
        assert message is not None and message[:5] == header(schema_id)
        assert reference(name, message) == row, (message, row)
    # failed messages: a precise reason; fastavro refuses them too, or is lenient
    for position, kind, reason in zip(
        result.errors.index.tolist(), result.errors.kind, result.errors.reason, strict=True
    ):
        message = messages[position]
        check_reason(suite, message, kind, reason, max_bytes)
        if reference(name, message) is not None:
            assert fastavro_is_lenient(kind, reason), (message, reason)


def tell(result: Decoded) -> None:
    """What an example covered, for ``pytest --hypothesis-show-statistics``."""
    event(f"decoded: {min(len(result.index), 3)}+")
    for kind in set(result.errors.kind):
        event(f"failed as {kind}")


def as_values(messages: list[bytes | None], layout: str, cut: int) -> pa.Array | pa.ChunkedArray:
    """The messages as the decoder may be handed them."""
    if layout == "large_binary":
        return pa.array(messages, pa.large_binary())
    if layout == "sliced":
        # a slice of a bigger array: offsets start past its own data's start
        padded = pa.array([b"\x00\x00\x00\x00\x01junk", *messages, b"\x07tail"], pa.binary())
        return padded.slice(1, len(messages))
    if layout == "chunked":
        at = cut % (len(messages) + 1)
        chunks = [pa.array(messages[:at], pa.binary()), pa.array(messages[at:], pa.binary())]
        return pa.chunked_array(chunks, pa.binary())
    return pa.array(messages, pa.binary())


LAYOUTS = st.sampled_from(["binary", "large_binary", "sliced", "chunked"])
SCHEMA_IDS = st.sampled_from([OWN, EVOLVED, PROMOTED, INCOMPATIBLE, *UNKNOWN_IDS]) | st.integers(
    -(2**31), 2**31 - 1
)
RANDOM_MESSAGES = st.one_of(
    st.none(),
    st.binary(max_size=80),
    st.builds(lambda i, body: header(i) + body, SCHEMA_IDS, st.binary(max_size=80)),
    # a framed message whose body starts like a valid record: field by field
    st.builds(lambda i, body: header(i) + body, st.sampled_from([OWN, EVOLVED, PROMOTED]),
              st.binary(min_size=20, max_size=200)),
)  # fmt: skip
MAX_BYTES = st.sampled_from([1_048_576, 64]) | st.integers(1, 120)


@settings(HOSTILE_SETTINGS, max_examples=300)
@given(
    name=st.sampled_from(sorted(SUITES)),
    messages=st.lists(RANDOM_MESSAGES, max_size=24),
    layout=LAYOUTS,
    cut=st.integers(0, 30),
    max_bytes=MAX_BYTES,
)
def test_random_bytes_are_decoded_or_failed_with_a_precise_reason(
    name: str, messages: list[bytes | None], layout: str, cut: int, max_bytes: int
) -> None:
    suite = SUITES[name]
    decoder = Decoder(suite.reader, suite.registry(), max_message_bytes=max_bytes)
    result = decoder.decode(as_values(messages, layout, cut))
    check_decoded(name, messages, result, max_bytes)
    tell(result)


def encoded(name: str, schema_id: int, records: list[dict[str, Any]]) -> list[bytes]:
    """Records written by lakeforge's own encoder with a writer's schema, then framed."""
    schema = AvroSchema.parse(json.dumps(SUITES[name].writers[schema_id]))
    table = pa.Table.from_pylist(millis_to_micros(records), schema=schema.arrow_schema)
    return frame(schema_id, encode(table, schema)).to_pylist()


@st.composite
def batches(draw: st.DrawFn, name: str) -> tuple[list[bytes], set[int]]:
    """Messages of valid records under the compatible writers; some of them mutated."""
    messages: list[bytes] = []
    for _ in range(draw(st.integers(1, 4))):
        schema_id = draw(st.sampled_from([OWN, EVOLVED, PROMOTED]))
        records = draw(st.lists(RECORDS[name, schema_id], min_size=1, max_size=5))
        messages += encoded(name, schema_id, records)
    order = draw(st.permutations(range(len(messages))))
    messages = [messages[i] for i in order]
    mutated = draw(st.sets(st.integers(0, len(messages) - 1)))
    for i in mutated:
        messages[i] = mutate(messages[i], draw(mutations()))
    return messages, mutated


@settings(HOSTILE_SETTINGS, max_examples=120)
@given(name=st.sampled_from(sorted(SUITES)), data=st.data(), layout=LAYOUTS)
def test_mutated_records_are_decoded_or_failed_with_a_precise_reason(
    name: str, data: st.DataObject, layout: str
) -> None:
    messages, mutated = data.draw(batches(name))
    suite = SUITES[name]
    result = Decoder(suite.reader, suite.registry()).decode(as_values(messages, layout, 3))
    check_decoded(name, list(messages), result)
    tell(result)
    failed = dict(zip(result.errors.index.tolist(), result.errors.reason, strict=True))
    for position, message in enumerate(messages):
        if position in mutated and message[:1] not in (b"", b"\x00"):
            assert failed[position].startswith("bad_magic: ")
        if position not in mutated:
            # lakeforge's own encoding always decodes, unless its value cannot be read as
            # the reader's (a null, an enum symbol the reader lacks): fastavro agrees
            resolvable = reference(name, message) is not None
            assert (position not in failed) == resolvable, failed.get(position)


def test_a_short_message_ending_the_batch_is_judged_by_its_own_first_byte() -> None:
    # Found by the random-bytes property: a message too short for a header, within the
    # last 4 bytes of a batch, had its magic byte read from the message before it.
    suite = SUITES["trade"]
    decoder = Decoder(suite.reader, suite.registry())
    for before, last, reason in [
        (b"\x01", b"\x00", "truncated: the message has 1 byte, the Confluent header needs 5"),
        (b"\x00", b"\x07\x00", "bad_magic: the message starts with byte 0x07, "
                               "not the Confluent magic byte 0x00"),
    ]:  # fmt: skip
        messages: list[bytes | None] = [header(OWN) + b"\x00" * 22 + before + b"\x00" * 4, last]
        result = decoder.decode(pa.array(messages, pa.binary()))
        assert result.errors.index.tolist() == [0, 1]
        assert result.errors.reason[1] == reason
        check_decoded("trade", messages, result)


# --- the checks above can fail --------------------------------------------------------


def test_the_check_notices_a_dropped_or_wrong_message() -> None:
    suite = SUITES["trade"]
    messages: list[bytes | None] = [
        *encoded("trade", OWN, [data_trade(1), data_trade(2)]),
        b"\x07junk",
    ]
    result = Decoder(suite.reader, suite.registry()).decode(pa.array(messages, pa.binary()))
    check_decoded("trade", messages, result)
    dropped = Decoded(result.table.slice(1), result.index[1:], result.schema_ids[1:], result.errors)
    with pytest.raises(AssertionError):
        check_decoded("trade", messages, dropped)
    # a row that is not what the bytes say
    wrong = [encoded("trade", OWN, [data_trade(3)])[0], *messages[1:]]
    with pytest.raises(AssertionError):
        check_decoded("trade", wrong, result)
    # a vague reason
    with pytest.raises(AssertionError):
        check_reason(suite, b"\x00\x00\x00\x00\x01\x02", "truncated", "truncated: bad", 100)


def data_trade(trade_id: int) -> dict[str, Any]:
    return {
        "trade_id": trade_id,
        "symbol": "AAPL",
        "price": 1.5,
        "size": 100,
        "exchange": "NYSE",
        "conditions": ["@"],
        "tape": "C",
        "event_time": 5,
    }
