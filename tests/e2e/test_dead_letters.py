"""Bad messages through the real CLI land in dead letters; good ones around them in bronze."""

from __future__ import annotations

import base64
import io
import json
import struct
from pathlib import Path

import fastavro
import yaml

from tests.lakeforge_cli import lakeforge, lakeforge_json

SCHEMA = json.loads((Path(__file__).parents[2] / "examples/stocks/schemas/trade.avsc").read_text())
PARSED = fastavro.parse_schema(SCHEMA)
NOW_US = 1_767_225_600_000_000  # 2026-01-01


def trade(**change: object) -> dict[str, object]:
    record: dict[str, object] = {
        "trade_id": 10_000_000,
        "symbol": "AAPL",
        "price": 231.5,
        "size": 100,
        "exchange": "NASDAQ",
        "conditions": ["@"],
        "tape": "C",
        "event_time": NOW_US,
    }
    record.update(change)
    return record


def body(record: dict[str, object]) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, PARSED, record)
    return out.getvalue()


def framed(schema_id: int, payload: bytes) -> bytes:
    return b"\x00" + struct.pack(">I", schema_id) + payload


def publish(pipeline: Path, messages: list[bytes], partition: int = 0) -> None:
    lines = b"\n".join(base64.b64encode(m) for m in messages) + b"\n"
    lakeforge(
        "publish", "trades", "--split", "base64-lines", "--partition", str(partition),
        pipeline=pipeline, input=lines,
    )  # fmt: skip


def test_bad_messages_land_in_dead_letters_with_reasons(stocks: Path) -> None:
    # The producer registers the schema (id 1) and puts good trades around the corpus.
    lakeforge("produce", "--count", "5000", "--rate", "0", "--quiet", pipeline=stocks)
    good = body(trade())
    corpus = {
        "bad_magic": b"\x07" + struct.pack(">I", 1) + good,
        "unknown_schema": framed(999, good),
        "truncated": framed(1, good[:-3]),
        "trailing_bytes": framed(1, good + b"\x00\x01"),
        "garbage": b"\xff" * 40,
        "too_short": b"\x00\x00",
        "rule_price": framed(1, body(trade(price=-5.0))),
        "rule_nan": framed(1, body(trade(price=float("nan")))),
        "rule_future": framed(1, body(trade(event_time=NOW_US * 3))),
        "rule_size": framed(1, body(trade(size=0))),
        "too_large": framed(1, body(trade(symbol="X" * 2_000_000))),
    }
    messages = [framed(1, good)]
    for payload in corpus.values():
        messages += [payload, framed(1, good)]
    publish(stocks, messages, partition=2)
    # An empty message: the whole (empty) input is one message.
    lakeforge("publish", "trades", "--partition", "1", pipeline=stocks, input=b"")
    lakeforge("produce", "--count", "5000", "--rate", "0", "--quiet", pipeline=stocks)
    lakeforge("process", "--until-drained", "--quiet", pipeline=stocks)

    listing = lakeforge_json("dead-letters", "list", "--limit", "100", pipeline=stocks)
    letters = listing["dead_letters"]
    assert listing["total"] == len(corpus) + 1
    kinds = sorted(letter["error_kind"] for letter in letters)
    assert kinds.count("rule") == 4
    assert {
        "bad_magic",
        "unknown_schema",
        "truncated",
        "trailing_bytes",
        "empty",
        "too_large",
    } <= set(kinds)
    reasons = {letter["reason"] for letter in letters}
    assert any("price_is_positive" in r for r in reasons)
    assert any("event_time_is_plausible" in r for r in reasons)
    assert any("size_is_positive" in r for r in reasons)
    assert any("999" in r for r in reasons), reasons
    # Raw bytes are kept whole: the preview is the start of what was published.
    by_kind = {letter["error_kind"]: letter for letter in letters}
    assert by_kind["unknown_schema"]["preview"] == framed(999, good)[:16].hex()

    status = lakeforge_json("status", pipeline=stocks)["tables"]["bronze.trades"]
    good_count = 10_000 + len(corpus) + 1
    assert status["rows"] == {"iceberg": good_count, "delta": good_count}
    assert status["dead_letters"] == len(corpus) + 1
    assert status["lag"] == 0
    assert lakeforge_json("verify", pipeline=stocks)["ok"]


def test_replay_after_fix_lands_once(stocks: Path) -> None:
    lakeforge("produce", "--count", "100", "--rate", "0", "--quiet", pipeline=stocks)
    big = framed(1, body(trade(size=50_000, trade_id=77)))
    spec = yaml.safe_load((stocks / "pipeline.yaml").read_text())
    spec["bronze"][0]["rules"].append({"name": "no_blocks", "check": "size < 10000"})
    (stocks / "pipeline.yaml").write_text(yaml.safe_dump(spec))
    publish(stocks, [big, big], partition=3)
    lakeforge("process", "--until-drained", "--quiet", pipeline=stocks)
    listing = lakeforge_json("dead-letters", "list", pipeline=stocks)
    assert [letter["error_kind"] for letter in listing["dead_letters"]] == ["rule", "rule"]

    # The fix: the rule was wrong. Replay once, then again: the second sends nothing.
    spec["bronze"][0]["rules"].pop()
    (stocks / "pipeline.yaml").write_text(yaml.safe_dump(spec))
    assert (
        "replayed 2 dead letter(s)" in lakeforge("dead-letters", "replay", pipeline=stocks).stdout
    )
    assert (
        "replayed 0 dead letter(s)" in lakeforge("dead-letters", "replay", pipeline=stocks).stdout
    )
    lakeforge("process", "--until-drained", "--quiet", pipeline=stocks)
    status = lakeforge_json("status", pipeline=stocks)["tables"]["bronze.trades"]
    assert status["rows"] == {"iceberg": 102, "delta": 102}
    listing = lakeforge_json("dead-letters", "list", pipeline=stocks)
    assert all(letter["replayed"] for letter in listing["dead_letters"])
    assert lakeforge_json("verify", pipeline=stocks)["ok"]
