"""Silver and gold built by the real dbt on a real bronze, published to Iceberg, checked
against an independent computation read back through pyiceberg."""

from __future__ import annotations

import base64
import shutil
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from lakeforge.codec import AvroSchema, confluent_header, encode
from lakeforge.registry.store import EmbeddedRegistry
from tests.conftest import STOCKS
from tests.lakeforge_cli import lakeforge, lakeforge_json
from tests.transform.lake_reader import read_iceberg

GOLD = ("gold.gold_bars_1m", "gold.gold_daily_summary", "gold.gold_top_movers")


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The stocks example with 30,000 trades in bronze."""
    target = tmp_path_factory.mktemp("medallion") / "stocks"
    shutil.copytree(STOCKS, target, ignore=shutil.ignore_patterns(".lakeforge", "target", "logs"))
    lakeforge("produce", "--count", "30000", "--rate", "0", pipeline=target)
    lakeforge("process", "--until-drained", pipeline=target)
    return target


def publish_trades(pipeline: Path, trades: list[dict[str, Any]]) -> None:
    """Put hand-made trades on the log, encoded with the registered schema."""
    registry = EmbeddedRegistry(pipeline / ".lakeforge" / "registry.db")
    registered = registry.latest("trades-value")
    schema = AvroSchema.parse(registered.schema)
    table = pa.Table.from_pylist(trades, schema=schema.arrow_schema)
    messages = encode(table, schema, prefix=confluent_header(registered.schema_id))
    lines = b"\n".join(base64.b64encode(m.as_py()) for m in messages)
    lakeforge("publish", "trades", "--split", "base64-lines", pipeline=pipeline, input=lines)


def expected_bars(silver: list[dict[str, Any]]) -> dict[tuple[str, datetime], dict[str, Any]]:
    """One-minute bars computed in plain Python from silver rows."""
    groups: dict[tuple[str, datetime], list[dict[str, Any]]] = defaultdict(list)
    for trade in silver:
        groups[(trade["symbol"], trade["trade_minute"])].append(trade)
    bars = {}
    for key, trades in groups.items():
        ordered = sorted(trades, key=lambda t: (t["event_time"], t["trade_id"]))
        volume = sum(t["size"] for t in trades)
        bars[key] = {
            "open": ordered[0]["price"],
            "close": ordered[-1]["price"],
            "high": max(t["price"] for t in trades),
            "low": min(t["price"] for t in trades),
            "volume": volume,
            "vwap": sum(t["price"] * t["size"] for t in trades) / volume,
            "trade_count": len(trades),
        }
    return bars


def check_gold_matches_silver(pipeline: Path) -> list[dict[str, Any]]:
    silver = read_iceberg(pipeline, "silver.silver_trades")
    bars = {(b["symbol"], b["bar_minute"]): b for b in read_iceberg(pipeline, "gold.gold_bars_1m")}
    expected = expected_bars(silver)
    assert bars.keys() == expected.keys()
    for key, want in expected.items():
        got = bars[key]
        for column, value in want.items():
            assert got[column] == pytest.approx(value), (key, column)
    days = read_iceberg(pipeline, "gold.gold_daily_summary")
    volume_by_symbol: dict[str, int] = defaultdict(int)
    for trade in silver:
        volume_by_symbol[trade["symbol"]] += trade["size"]
    assert {d["symbol"]: d["volume"] for d in days} == volume_by_symbol
    for day in days:
        assert day["return_pct"] == pytest.approx(100 * (day["close"] - day["open"]) / day["open"])
    movers = sorted(read_iceberg(pipeline, "gold.gold_top_movers"), key=lambda m: m["mover_rank"])
    assert [m["mover_rank"] for m in movers] == list(range(1, len(days) + 1))
    moves = [abs(m["change_pct"]) for m in movers]
    assert moves == sorted(moves, reverse=True)
    return silver


def test_first_transform_builds_every_layer_as_iceberg(pipeline: Path) -> None:
    report = lakeforge_json("transform", pipeline=pipeline)
    assert report["status"] == "success", report["error"]
    failed = [m for m in report["models"] if m["status"] not in ("success", "pass")]
    assert failed == []
    tests = {m["name"] for m in report["models"] if m["kind"] == "test"}
    assert "silver_iceberg_equals_delta" in tests
    silver = check_gold_matches_silver(pipeline)
    bronze = read_iceberg(pipeline, "bronze.trades")
    assert sorted(t["trade_id"] for t in silver) == sorted(t["trade_id"] for t in bronze)
    assert {t["_transform_run"] for t in silver} == {report["run"]}
    assert report["gold_freshness_seconds"]["p99"] >= report["gold_freshness_seconds"]["p50"] > 0
    tables = {t["name"]: t for t in lakeforge_json("tables", pipeline=pipeline)}
    for name in ("silver.silver_trades", *GOLD):
        assert [f["format"] for f in tables[name]["formats"]] == ["iceberg"]
        assert tables[name]["layer"] == name.split(".")[0]


def test_incremental_run_adds_new_late_and_skips_duplicate_trades(pipeline: Path) -> None:
    before = read_iceberg(pipeline, "silver.silver_trades")
    last = max(before, key=lambda t: t["trade_id"])
    late_time = min(t["event_time"] for t in before) - timedelta(minutes=5)
    late = {**last, "trade_id": last["trade_id"] + 10_000_000, "event_time": late_time}
    duplicate = dict(before[0])
    trades = [
        {
            k: v
            for k, v in t.items()
            if k
            in {
                "trade_id",
                "symbol",
                "price",
                "size",
                "exchange",
                "conditions",
                "tape",
                "event_time",
            }
        }
        for t in (late, duplicate)
    ]
    publish_trades(pipeline, trades)
    lakeforge("produce", "--count", "5000", "--rate", "0", pipeline=pipeline)
    lakeforge("process", "--until-drained", pipeline=pipeline)

    report = lakeforge_json("transform", pipeline=pipeline)
    assert report["status"] == "success", report["error"]
    published = {m["name"]: m["rows"] for m in report["models"] if m["kind"] == "model"}
    # Silver gets only what is new: 5,000 produced plus the late trade, not the duplicate.
    assert published["silver.silver_trades"] == 5001
    silver = check_gold_matches_silver(pipeline)
    assert len(silver) == len(before) + 5001
    ids = [t["trade_id"] for t in silver]
    assert len(ids) == len(set(ids))
    late_minute = late_time.replace(second=0, microsecond=0, tzinfo=None)
    bars = read_iceberg(pipeline, "gold.gold_bars_1m")
    assert any(b["bar_minute"] == late_minute and b["symbol"] == late["symbol"] for b in bars)


def test_full_refresh_gives_what_the_incremental_runs_gave(pipeline: Path) -> None:
    def content(name: str) -> list[tuple[Any, ...]]:
        # Sums of floats depend on their order, which a rebuild does not keep.
        def text(value: Any) -> str:
            return f"{value:.9g}" if isinstance(value, float) else str(value)

        rows = read_iceberg(pipeline, name)
        return sorted(
            tuple(sorted((k, text(v)) for k, v in r.items() if k != "_transform_run")) for r in rows
        )

    incremental = {name: content(name) for name in ("silver.silver_trades", *GOLD)}
    report = lakeforge_json("transform", "--full-refresh", pipeline=pipeline)
    assert report["status"] == "success", report["error"]
    for name, rows in incremental.items():
        assert content(name) == rows, name


def test_a_failing_model_is_reported_and_the_next_run_picks_up(pipeline: Path) -> None:
    broken = pipeline / "dbt" / "models" / "gold" / "gold_broken.sql"
    broken.write_text("select symbol, from {{ ref('silver_trades') }} where\n")
    silver_before = len(read_iceberg(pipeline, "silver.silver_trades"))
    lakeforge("produce", "--count", "2000", "--rate", "0", pipeline=pipeline)
    lakeforge("process", "--until-drained", pipeline=pipeline)
    failed = lakeforge("transform", pipeline=pipeline, check=False)
    assert failed.returncode == 1
    assert "gold_broken" in failed.stderr and "error" in failed.stderr
    assert "dbt.log" in failed.stderr
    # The models that built were published all the same.
    assert len(read_iceberg(pipeline, "silver.silver_trades")) == silver_before + 2000

    broken.unlink()
    lakeforge("produce", "--count", "1000", "--rate", "0", pipeline=pipeline)
    lakeforge("process", "--until-drained", pipeline=pipeline)
    report = lakeforge_json("transform", pipeline=pipeline)
    assert report["status"] == "success", report["error"]
    check_gold_matches_silver(pipeline)
    assert len(read_iceberg(pipeline, "silver.silver_trades")) == silver_before + 3000


def test_a_lost_working_database_is_rebuilt_without_duplicates(pipeline: Path) -> None:
    silver_before = len(read_iceberg(pipeline, "silver.silver_trades"))
    (pipeline / ".lakeforge" / "transform" / "work.duckdb").unlink()
    report = lakeforge_json("transform", pipeline=pipeline)
    assert report["status"] == "success", report["error"]
    silver = check_gold_matches_silver(pipeline)
    assert len(silver) == silver_before
    # Run numbers keep growing, so incremental models never mistake old rows for new.
    assert report["run"] > max(t["_transform_run"] for t in silver) - 1
