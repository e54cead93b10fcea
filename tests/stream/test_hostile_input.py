"""Hostile input through the real stream runner: every bad message is a dead letter with a
precise reason, every good message around it lands in bronze exactly once.

A corpus of bad messages (garbage, unknown and incompatible schema ids, truncated and
malformed Avro, nulls and values the rules refuse, invalid UTF-8, oversized, empty and
header-only messages) is published with good messages between them, on several
partitions, and processed by an in-process StreamRunner on the local profile in small
batches. Both table formats are read back; the CLI lists the same dead letters and
``lakeforge verify`` passes.

The property test at the end drives the runner's sorting step (decode, then
:func:`~lakeforge.stream.ingest.sort_batch` with the pipeline's rules) with random
records and hostile bytes: rows in == bronze rows + dead letters, and a record lands in
bronze exactly when an independent reading of the rules says it should.
"""

from __future__ import annotations

import copy
import io
import json
import math
import re
import shutil
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import fastavro
import pyarrow as pa
import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from lakeforge.codec import ERROR_KINDS, AvroSchema, Decoder, encode, frame
from lakeforge.profiles import open_local
from lakeforge.profiles.base import Profile
from lakeforge.source.producer import register_schema
from lakeforge.spec.checks import check_pipeline
from lakeforge.spec.load import load_pipeline
from lakeforge.spec.model import Rule
from lakeforge.stream.fetcher import MESSAGES_SCHEMA
from lakeforge.stream.ingest import bronze_schema, sort_batch
from lakeforge.stream.rules import RuleSet
from lakeforge.stream.runner import StreamRunner
from tests.codec.samples import Registry
from tests.codec.test_properties import mutate, mutations
from tests.lakeforge_cli import lakeforge_json

ROOT = Path(__file__).resolve().parents[2]
STOCKS = ROOT / "examples" / "stocks"
TRADE = json.loads((STOCKS / "schemas" / "trade.avsc").read_text())
TRADE_TEXT = json.dumps(TRADE)
MAX_BYTES = 4096
NOW_US = time.time_ns() // 1000
YEAR_3000_US = 32_503_680_000_000_000
APOLLO_11_US = -14_182_940_000_000  # 1969-07-20 20:17:40 UTC
Y2K_US = 946_684_800_000_000
EXCHANGE = "lakeforge.examples.stocks.Exchange"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def writer(**types: Any) -> dict[str, Any]:
    """The trade schema with some field types changed."""
    schema = copy.deepcopy(TRADE)
    for field in schema["fields"]:
        field["type"] = types.get(field["name"], field["type"])
    return schema


#: Another topic's schema, whose price is a string: incompatible with the reader.
STRING_PRICE = writer(price="string")
#: The trade schema evolved (BACKWARD compatible) to a nullable price.
NULLABLE_PRICE = writer(price=["null", "double"])
PARSED = {
    "own": fastavro.parse_schema(TRADE),
    "string_price": fastavro.parse_schema(STRING_PRICE),
    "nullable_price": fastavro.parse_schema(NULLABLE_PRICE),
}
RULES = {
    rule["name"]: rule["check"]
    for rule in yaml.safe_load((STOCKS / "pipeline.yaml").read_text())["bronze"][0]["rules"]
}


def trade(**change: Any) -> dict[str, Any]:
    """A trade every rule accepts (fastavro's raw values: event_time in microseconds)."""
    record = {
        "trade_id": 7,
        "symbol": "AAPL",
        "price": 231.5,
        "size": 100,
        "exchange": "NASDAQ",
        "conditions": ["@"],
        "tape": "C",
        "event_time": NOW_US,
    }
    return record | change


def body(record: dict[str, Any], schema: str = "own") -> bytes:
    """The Avro body of a record, written by fastavro (independent of lakeforge)."""
    out = io.BytesIO()
    fastavro.schemaless_writer(out, PARSED[schema], record)
    return out.getvalue()


def header(schema_id: int) -> bytes:
    return b"\x00" + struct.pack(">i", schema_id)


# trade_id 0 | symbol 1-5 | price 6-13 | size 14-15 | exchange 16 | conditions 17-20 |
# tape 21-22 | event_time 23-30: the layout of trade() (event_time takes 8 bytes)
BODY = body(trade())
assert len(BODY) == 31 and BODY[21:23] == b"\x02C"


def patched(at: int, new: bytes, cut: int = 0) -> bytes:
    """BODY with ``new`` in place of ``cut`` bytes at ``at``."""
    return BODY[:at] + new + BODY[at + cut :]


def sized(total: int, **change: Any) -> dict[str, Any]:
    """A good trade whose framed message has exactly ``total`` bytes."""
    short = len(header(1) + body(trade(**change, conditions=["@", ""])))
    # the second condition grows from 0 bytes; past 63 its length takes a second byte
    extra = total - short
    filler = "F" * (extra - 1 if extra > 64 else extra)
    record = trade(**change, conditions=["@", filler])
    assert len(header(1) + body(record)) == total
    return record


@dataclass(frozen=True)
class Bad:
    """A message that must become a dead letter with exactly this kind and reason."""

    name: str
    value: bytes | None
    kind: str
    reason: str
    #: The schema id the dead letter records: rule failures only (decoded records).
    schema_id: int | None = None


@dataclass(frozen=True)
class Good:
    """A message that must land in bronze once, as this record."""

    value: bytes
    record: dict[str, Any]
    schema_id: int


@dataclass(frozen=True)
class Ids:
    own: int
    string_price: int
    nullable_price: int


def rule(name: str, **values: str) -> str:
    seen = ", ".join(f"{field} = {text}" for field, text in values.items())
    return f"{name} ({RULES[name]}) with {seen}"


def corpus(ids: Ids, registry_path: Path) -> list[Bad]:
    """Every kind of bad message, with the exact reason each must get."""
    own = ids.own
    where = f"the registry {registry_path}"
    price = "price_is_positive"
    plausible = "event_time_is_plausible"
    return [
        # framing
        Bad("garbage", bytes.fromhex("deadbeef") * 8, "bad_magic",
            "bad_magic: the message starts with byte 0xde, not the Confluent magic byte 0x00"),
        Bad("json", b'{"trade_id": 7, "price": 1.5}', "bad_magic",
            "bad_magic: the message starts with byte 0x7b, not the Confluent magic byte 0x00"),
        Bad("wrong magic byte", b"\x01" + header(own)[1:] + BODY, "bad_magic",
            "bad_magic: the message starts with byte 0x01, not the Confluent magic byte 0x00"),
        Bad("empty", b"", "empty", "empty: the message has no value"),
        Bad("tombstone", None, "empty", "empty: the message has no value"),
        Bad("magic byte only", b"\x00", "truncated",
            "truncated: the message has 1 byte, the Confluent header needs 5"),
        Bad("half a header", b"\x00\x00\x00", "truncated",
            "truncated: the message has 3 bytes, the Confluent header needs 5"),
        Bad("too large", header(own) + body(sized(MAX_BYTES + 1)), "too_large",
            f"too_large: the message has {MAX_BYTES + 1} bytes, more than the limit of "
            f"{MAX_BYTES}"),
        # schema ids
        Bad("unknown schema id", header(999) + BODY, "unknown_schema",
            f"unknown_schema: schema id 999 is not in the registry: no schema with id 999 in "
            f"{where}"),
        Bad("schema id with the sign bit", header(-1) + BODY, "unknown_schema",
            f"unknown_schema: schema id -1 is not in the registry: no schema with id -1 in "
            f"{where}"),
        Bad("string where a double is",
            header(ids.string_price) + body(trade(price="231.5"), "string_price"),
            "incompatible_schema",
            f"incompatible_schema: writer schema id {ids.string_price} cannot be read as "
            "lakeforge.examples.stocks.Trade: field 'price' is string in the writer's schema, "
            "double in the reader's"),
        # a producer that frames a string price with the reader's id: read as a double, the
        # string's bytes swallow the fields after it, and the record falls apart where the
        # bytes stop making sense ('@' read as an item length of 32)
        Bad("string where a double is, under the reader's id",
            header(own) + body(trade(price="231.5"), "string_price"), "truncated",
            "truncated: field 'conditions[0]' needs 32 bytes at body byte 18, body has 29"),
        Bad("null where not nullable",
            header(ids.nullable_price) + body(trade(price=None), "nullable_price"),
            "incompatible_schema",
            "incompatible_schema: field 'price' is null, which the reader's double cannot hold"),
        # malformed Avro
        Bad("garbage body", header(own) + b"\xff" * 12, "bad_varint",
            "bad_varint: field 'trade_id' varint is longer than 10 bytes at body byte 0, "
            "body has 12"),
        Bad("header only", header(own), "truncated",
            "truncated: field 'trade_id' varint runs past the end at body byte 0, body has 0"),
        Bad("truncated in price", header(own) + BODY[:10], "truncated",
            "truncated: field 'price' needs 8 bytes at body byte 6, body has 10"),
        Bad("truncated in an array item", header(own) + BODY[:19], "truncated",
            "truncated: field 'conditions[0]' needs 1 byte at body byte 19, body has 19"),
        Bad("truncated in the last field", header(own) + BODY[:-2], "truncated",
            "truncated: field 'event_time' varint runs past the end at body byte 23, "
            "body has 29"),
        Bad("trailing byte", header(own) + BODY + b"\x00", "trailing_bytes",
            "trailing_bytes: 1 byte left after the last field 'event_time' at body byte 31, "
            "body has 32"),
        Bad("negative string length", header(own) + patched(1, b"\x01", 1), "bad_length",
            "bad_length: field 'symbol' has length -1 at body byte 1, body has 31"),
        Bad("enum index out of range", header(own) + patched(16, b"\x7e", 1), "bad_enum",
            f"bad_enum: field 'exchange' has symbol index 63, enum {EXCHANGE} has 15 symbols "
            "at body byte 16, body has 31"),
        Bad("size beyond an int", header(own) + patched(14, b"\x80\x80\x80\x80\x80\x40", 2),
            "bad_varint",
            "bad_varint: field 'size' has 1099511627776, which does not fit in an int "
            "at body byte 14, body has 35"),
        Bad("union branch out of range",
            header(ids.nullable_price) + BODY[:6] + b"\x04" + BODY[6:], "bad_union",
            "bad_union: field 'price' has union branch 2, the union has 2 at body byte 6, "
            "body has 32"),
        # invalid UTF-8
        Bad("invalid UTF-8 in symbol", header(own) + patched(4, b"\xff", 1), "bad_utf8",
            "bad_utf8: field 'symbol' has invalid UTF-8 (byte 0xff) at body byte 4"),
        Bad("overlong UTF-8", header(own) + patched(3, b"\xc0\xaf", 2), "bad_utf8",
            "bad_utf8: field 'symbol' has invalid UTF-8 (byte 0xc0) at body byte 3"),
        Bad("UTF-8 surrogate", header(own) + patched(2, b"\xed\xa0\x80", 3), "bad_utf8",
            "bad_utf8: field 'symbol' has invalid UTF-8 (byte 0xed) at body byte 2"),
        Bad("invalid UTF-8 in an array item", header(own) + patched(19, b"\x80", 1), "bad_utf8",
            "bad_utf8: field 'conditions[]' has invalid UTF-8 (byte 0x80) at body byte 19"),
        Bad("cut UTF-8 in the last string", header(own) + patched(22, b"\xc3", 1), "bad_utf8",
            "bad_utf8: field 'tape' has invalid UTF-8 (byte 0xc3) at body byte 22"),
        # decoded, refused by the rules
        Bad("negative price", header(own) + body(trade(price=-5.0)), "rule",
            f"rule failed: {rule(price, price='-5.0')}", own),
        Bad("zero price", header(own) + body(trade(price=0.0)), "rule",
            f"rule failed: {rule(price, price='0.0')}", own),
        Bad("NaN price", header(own) + body(trade(price=math.nan)), "rule",
            f"rule failed: {rule(price, price='nan')}", own),
        Bad("infinite price", header(own) + body(trade(price=math.inf)), "rule",
            f"rule failed: {rule(price, price='inf')}", own),
        Bad("negative infinite price", header(own) + body(trade(price=-math.inf)), "rule",
            f"rule failed: {rule(price, price='-inf')}", own),
        Bad("year 3000", header(own) + body(trade(event_time=YEAR_3000_US)), "rule",
            f"rule failed: {rule(plausible, event_time='3000-01-01 00:00:00+00')}", own),
        Bad("the end of time", header(own) + body(trade(event_time=2**63 - 1)), "rule",
            f"rule failed: {rule(plausible, event_time='infinity')}", own),
        Bad("just before 1970", header(own) + body(trade(event_time=-1)), "rule",
            f"rule failed: {rule(plausible, event_time='1969-12-31 23:59:59.999999+00')}", own),
        Bad("1969", header(own) + body(trade(event_time=APOLLO_11_US)), "rule",
            f"rule failed: {rule(plausible, event_time='1969-07-20 20:17:40+00')}", own),
        Bad("NUL in the symbol", header(own) + body(trade(symbol="AA\x00L")), "rule",
            f"rule failed: {rule('symbol_is_valid', symbol=repr('AA' + chr(0) + 'L'))}", own),
        Bad("three rules at once",
            header(own) + body(trade(price=-1.0, size=-3, tape="Z")), "rule",
            f"rule failed: {rule(price, price='-1.0')}; {rule('size_is_positive', size='-3')}; "
            f"{rule('tape_is_known', tape=repr('Z'))}", own),
        Bad("evolved writer, then the rules",
            header(ids.nullable_price) + body(trade(price=-2.5), "nullable_price"), "rule",
            f"rule failed: {rule(price, price='-2.5')}", ids.nullable_price),
    ]  # fmt: skip


def good_messages(ids: Ids) -> list[Good]:
    """Good trades of every shape, each with its own trade_id."""
    shapes: list[tuple[dict[str, Any], str]] = [
        ({}, "own"),
        ({"conditions": []}, "own"),
        ({"conditions": ["é", "日本", "🚀", "\x00", ""]}, "own"),
        ({"price": 5e-324, "size": 2**31 - 1}, "own"),
        ({"event_time": Y2K_US + 1, "symbol": "BRK.A", "tape": "A"}, "own"),
        ({"size": MAX_BYTES}, "own"),  # a message of exactly the largest size allowed
        ({"price": 12.25}, "nullable_price"),
    ]
    goods = []
    for n in range(len(shapes) * 7):
        change, schema = shapes[n % len(shapes)]
        change = change | {"trade_id": 1000 + n}
        record = sized(MAX_BYTES, **change) if change.get("size") == MAX_BYTES else trade(**change)
        schema_id = getattr(ids, schema)
        goods.append(Good(header(schema_id) + body(record, schema), record, schema_id))
    return goods


@dataclass
class Run:
    """The corpus as published, and the pipeline it was processed with."""

    folder: Path
    bad: dict[tuple[int, int], Bad]
    good: dict[tuple[int, int], Good]


def place(
    profile: Profile,
    partition: int,
    items: list[Bad | Good],
    bad: dict[tuple[int, int], Bad],
    good: dict[tuple[int, int], Good],
) -> None:
    """Publish messages to a partition, noting where each one went."""
    values = pa.array([item.value for item in items], pa.binary())
    first = profile.bus.append("trades", partition, pa.table({"value": values}))
    for offset, item in enumerate(items, start=first):
        if isinstance(item, Bad):
            bad[partition, offset] = item
        else:
            good[partition, offset] = item


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    folder = tmp_path_factory.mktemp("hostile") / "stocks"
    shutil.copytree(STOCKS, folder, ignore=shutil.ignore_patterns(".lakeforge", "target", "logs"))
    spec = yaml.safe_load((folder / "pipeline.yaml").read_text())
    # small batches: the corpus spans many of them, bad messages at their edges
    spec["stream"] |= {"max_message_bytes": MAX_BYTES, "batch_rows": 16}
    (folder / "pipeline.yaml").write_text(yaml.safe_dump(spec))
    pipeline = load_pipeline(folder, environ={})
    check_pipeline(pipeline)
    bad: dict[tuple[int, int], Bad] = {}
    good: dict[tuple[int, int], Good] = {}
    with open_local(pipeline) as profile:
        registry = profile.registry
        ids = Ids(
            register_schema(registry, "trades", AvroSchema.parse(TRADE_TEXT)),
            registry.register("quotes-value", json.dumps(STRING_PRICE)).schema_id,
            registry.register("trades-value", json.dumps(NULLABLE_PRICE)).schema_id,
        )
        assert len({ids.own, ids.string_price, ids.nullable_price}) == 3
        bads = corpus(ids, pipeline.state_path / "registry.db")
        goods = iter(good_messages(ids))
        # partitions 0 and 1: good, bad, good, bad, ..., good
        for partition, share in ((0, bads[::2]), (1, bads[1::2])):
            items: list[Bad | Good] = [next(goods)]
            for item in share:
                items += [item, next(goods)]
            place(profile, partition, items, bad, good)
        # partition 2: a short message ends it, right after a good one (its header would
        # be read from that one's last bytes); partition 3: the good ones left
        rest = list(goods)
        last = Bad("magic byte only, last", b"\x00", "truncated",
                   "truncated: the message has 1 byte, the Confluent header needs 5")  # fmt: skip
        place(profile, 2, [*rest[:2], last], bad, good)
        place(profile, 3, rest[2:], bad, good)
        stats = StreamRunner(pipeline, profile).run(until_drained=True)
        assert stats.batches > 5
    yield Run(folder, bad, good)


def micros(moment: datetime) -> int:
    """A timestamp as microseconds since the epoch, exactly."""
    return (moment - EPOCH) // timedelta(microseconds=1)


def read(folder: Path, table: str, fmt: str) -> list[dict[str, Any]]:
    pipeline = load_pipeline(folder, environ={})
    with open_local(pipeline) as profile:
        rows: list[dict[str, Any]] = profile.warehouse.open_table(table).read(fmt).to_pylist()
    return rows


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_every_bad_message_is_a_dead_letter_with_its_precise_reason(run: Run, fmt: str) -> None:
    letters = read(run.folder, "bronze.trades_dead_letters", fmt)
    by_position = {(letter["_partition"], letter["_offset"]): letter for letter in letters}
    assert len(by_position) == len(letters), "a message is a dead letter twice"
    assert sorted(by_position) == sorted(run.bad)
    for position, bad in run.bad.items():
        letter = by_position[position]
        assert (letter["error_kind"], letter["reason"]) == (bad.kind, bad.reason), bad.name
        assert letter["value"] == bad.value, bad.name  # raw bytes kept whole, for replay
        assert letter["_schema_id"] == bad.schema_id, bad.name
        assert letter["_topic"] == "trades"


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_every_good_message_is_in_bronze_exactly_once(run: Run, fmt: str) -> None:
    rows = read(run.folder, "bronze.trades", fmt)
    by_position = {(row["_partition"], row["_offset"]): row for row in rows}
    assert len(by_position) == len(rows), "a message is in bronze twice"
    assert sorted(by_position) == sorted(run.good)
    for position, good in run.good.items():
        row = by_position[position]
        record = {name: row[name] for name in good.record}
        record["event_time"] = micros(record["event_time"])
        assert record == good.record
        assert row["_schema_id"] == good.schema_id


def test_the_cli_lists_the_same_dead_letters_and_verify_passes(run: Run) -> None:
    listing = lakeforge_json("dead-letters", "list", "--limit", "1000", pipeline=run.folder)
    assert listing["total"] == len(run.bad)
    listed = {(row["partition"], row["offset"]): row for row in listing["dead_letters"]}
    assert sorted(listed) == sorted(run.bad)
    for position, bad in run.bad.items():
        row = listed[position]
        value = bad.value or b""
        assert (row["error_kind"], row["reason"]) == (bad.kind, bad.reason)
        assert (row["bytes"], row["preview"]) == (len(value), value[:16].hex())
    report = lakeforge_json("verify", pipeline=run.folder)
    assert report["ok"], report
    partitions = report["tables"][0]["partitions"]
    for part in partitions:
        for account in part["accounts"].values():
            number = part["partition"]
            assert account["rows"] == sum(1 for p, _ in run.good if p == number)
            assert account["dead_letters"] == sum(1 for p, _ in run.bad if p == number)


# --- rows in == bronze rows + dead letters, for any batch -----------------------------

#: Values on both sides of every rule's edge.
PRICES = [math.nan, math.inf, -math.inf, -1.0, -0.0, 0.0, 5e-324, 1.0, 231.5, 1.8e308]
SIZES = [-(2**31), -1, 0, 1, 100, 2**31 - 1]
SYMBOLS = ["AAPL", "BRK.A", "A", "ABCDEFGHIJ", "ABCDEFGHIJK", "", "aapl", "1A", "AA L", "É"]
TAPES = ["A", "B", "C", "D", "", "a", "AB"]
EVENT_TIMES = [
    -(2**63), -(2**63) + 1, APOLLO_11_US, -1, 0, Y2K_US, Y2K_US + 1,
    NOW_US, NOW_US + 3_600_000_000, NOW_US + 3 * 86_400_000_000, YEAR_3000_US, 2**63 - 1,
]  # fmt: skip
EXCHANGES = next(f for f in TRADE["fields"] if f["name"] == "exchange")["type"]["symbols"]

#: Records every rule accepts.
VALID_RECORDS = st.fixed_dictionaries(
    {
        "trade_id": st.integers(-(2**63), 2**63 - 1),
        "symbol": st.from_regex(r"[A-Z][A-Z0-9.]{0,9}", fullmatch=True),
        "price": st.floats(min_value=5e-324, max_value=1.8e308, allow_nan=False),
        "size": st.integers(1, 2**31 - 1),
        "exchange": st.sampled_from(EXCHANGES),
        "conditions": st.lists(st.text(max_size=3), max_size=3),
        "tape": st.sampled_from("ABC"),
        "event_time": st.integers(Y2K_US + 1, NOW_US),
    }
)
#: Records with values on both sides of every rule's edge, and anything else.
EDGY_RECORDS = st.fixed_dictionaries(
    {
        "trade_id": st.integers(-(2**63), 2**63 - 1),
        "symbol": st.sampled_from(SYMBOLS) | st.text(max_size=12),
        "price": st.sampled_from(PRICES) | st.floats(),
        "size": st.sampled_from(SIZES) | st.integers(-(2**31), 2**31 - 1),
        "exchange": st.sampled_from(EXCHANGES),
        "conditions": st.lists(st.text(max_size=3), max_size=3),
        "tape": st.sampled_from(TAPES),
        "event_time": st.sampled_from(EVENT_TIMES) | st.integers(-(2**63), 2**63 - 1),
    }
)


def broken_rules(record: dict[str, Any]) -> list[str]:
    """The stocks rules, read independently of DuckDB: the names of those ``record`` breaks.

    ``now()`` is when the check runs: event times within a minute of a day from now are
    never drawn.
    """
    day_from_now = time.time_ns() // 1000 + 86_400_000_000
    checks = {
        "price_is_positive": math.isfinite(record["price"]) and record["price"] > 0,
        "size_is_positive": record["size"] > 0,
        "symbol_is_valid": re.fullmatch(r"[A-Z][A-Z0-9.]{0,9}", record["symbol"]) is not None,
        # DuckDB reads the smallest long as a date 290309 BC, still before 2000
        "event_time_is_plausible": Y2K_US < record["event_time"] < day_from_now,
        "tape_is_known": record["tape"] in ("A", "B", "C"),
    }
    return [name for name, ok in checks.items() if not ok]


HOSTILE = st.one_of(
    st.none(),
    st.binary(max_size=40),
    st.builds(lambda body: header(1) + body, st.binary(max_size=60)),
)


@st.composite
def messages(draw: st.DrawFn) -> tuple[list[bytes | None], dict[int, dict[str, Any]]]:
    """A batch: records (some mutated) and hostile bytes, shuffled; the intact records."""
    records = draw(st.lists(VALID_RECORDS | EDGY_RECORDS, max_size=12))
    schema = AvroSchema.parse(TRADE_TEXT)
    table = pa.Table.from_pylist(records, schema=schema.arrow_schema)
    values: list[bytes | None] = list(frame(1, encode(table, schema)).to_pylist())
    intact = dict(enumerate(records))
    for i in draw(st.sets(st.integers(0, max(len(values) - 1, 0)), max_size=3)):
        if i < len(values):
            values[i] = mutate(values[i] or b"", draw(mutations()))
            intact.pop(i)
    hostile = draw(st.lists(HOSTILE, max_size=6))
    order = draw(st.permutations(range(len(values) + len(hostile))))
    everything = values + hostile
    moved = {new: old for new, old in enumerate(order)}
    shuffled = [everything[moved[new]] for new in range(len(everything))]
    placed = {new: intact[old] for new, old in moved.items() if old in intact}
    return shuffled, placed


RULE_SET = RuleSet(
    [Rule(name=name, check=check) for name, check in RULES.items()],
    AvroSchema.parse(TRADE_TEXT).arrow_schema,
)


@settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(batch=messages())
def test_rows_in_are_bronze_rows_plus_dead_letters(
    batch: tuple[list[bytes | None], dict[int, dict[str, Any]]],
) -> None:
    values, intact = batch
    day_from_now = time.time_ns() // 1000 + 86_400_000_000
    if any(abs(r["event_time"] - day_from_now) < 60_000_000 for r in intact.values()):
        return  # too close to the edge of now() + 1 day to tell which side it is on
    count = len(values)
    offsets = list(range(100, 100 + count))
    incoming = pa.Table.from_pydict(
        {
            "partition": [2] * count,
            "offset": offsets,
            "timestamp": [1_767_225_600_000 + i for i in range(count)],
            "key": [None] * count,
            "value": values,
        },
        schema=MESSAGES_SCHEMA,
    )
    schema = AvroSchema.parse(TRADE_TEXT)
    decoded = Decoder(schema, Registry({1: TRADE_TEXT}), MAX_BYTES).decode(incoming["value"])
    table_schema = bronze_schema(schema.arrow_schema)
    result = sort_batch("trades", incoming, decoded, RULE_SET, table_schema, NOW_US)

    # nothing lost, nothing twice: every offset once, in bronze or in dead letters
    assert result.bronze.num_rows + result.dead_letters.num_rows == count
    in_bronze = result.bronze["_offset"].to_pylist()
    dead = result.dead_letters.to_pylist()
    assert sorted(in_bronze + [d["_offset"] for d in dead]) == offsets
    for letter in dead:
        position = letter["_offset"] - 100
        assert letter["value"] == values[position]  # raw bytes kept whole
        kind, reason = letter["error_kind"], letter["reason"]
        assert kind in (*ERROR_KINDS, "rule")
        assert reason.startswith("rule failed: " if kind == "rule" else f"{kind}: ")
    event(f"rows in bronze: {min(result.bronze.num_rows, 3)}+")
    event(f"dead letters: {min(result.dead_letters.num_rows, 3)}+")
    # an intact record is in bronze exactly when it breaks no rule, else the reason
    # names each rule it broke, and only those
    letters = {d["_offset"] - 100: d for d in dead}
    rows = {r["_offset"] - 100: r for r in result.bronze.to_pylist()}
    for position, record in intact.items():
        broken = broken_rules(record)
        if not broken:
            assert position in rows, letters.get(position)
            assert rows[position]["trade_id"] == record["trade_id"]
            assert rows[position]["_schema_id"] == 1
            continue
        letter = letters[position]
        assert letter["error_kind"] == "rule" and letter["_schema_id"] == 1
        for name, check in RULES.items():
            assert (f"{name} ({check})" in letter["reason"]) == (name in broken), letter
    # anything in bronze passes every rule
    for row in rows.values():
        row["event_time"] = micros(row["event_time"])
        assert broken_rules(row) == [], row
