"""End to end through the real CLI: produce, process, SIGKILL, restart, verify."""

from __future__ import annotations

import itertools
import os
import random
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lakeforge.lake import Warehouse
from tests.lakeforge_cli import lakeforge, lakeforge_json, start


def bronze_counts(pipeline: Path) -> dict[str, int]:
    status = lakeforge_json("status", pipeline=pipeline)
    table = status["tables"]["bronze.trades"]
    return {"iceberg": table["rows"]["iceberg"], "delta": table["rows"]["delta"]}


def test_produce_process_verify(stocks: Path) -> None:
    lakeforge("produce", "--count", "200000", "--rate", "0", "--quiet", pipeline=stocks)
    lakeforge("process", "--until-drained", "--quiet", pipeline=stocks)
    report = lakeforge_json("verify", pipeline=stocks)
    assert report["ok"], report
    assert bronze_counts(stocks) == {"iceberg": 200_000, "delta": 200_000}
    partitions = report["tables"][0]["partitions"]
    assert sum(p["position"] for p in partitions) == 200_000
    assert len({p["accounts"]["iceberg"]["content_hash"] for p in partitions}) == 4
    tables = {t["name"]: t for t in lakeforge_json("tables", pipeline=stocks)}
    assert tables["bronze.trades"]["kind"] == "table"
    assert tables["bronze.trades"]["rows"] == 200_000
    assert tables["bronze.trades_dead_letters"]["kind"] == "dead_letters"
    assert tables["bronze.trades"]["partitioned_by"] == "day(_ingested_at)"
    assert tables["bronze.trades_dead_letters"]["partitioned_by"] == "day(failed_at)"
    with Warehouse(stocks / ".lakeforge" / "warehouse") as warehouse:
        files = warehouse.open_table("bronze.trades").live_files()
    # every batch file sits in the day it was ingested: today, or yesterday past midnight
    days = {f.day for f in files}
    assert days and days <= {_utc_day(0), _utc_day(1)}, days
    for table in tables.values():
        assert table["layer"] == "bronze"
        assert [f["format"] for f in table["formats"]] == ["iceberg", "delta"]
        assert all(Path(f["location"]).exists() for f in table["formats"])


def _utc_day(days_ago: int) -> str:
    return (datetime.now(UTC) - timedelta(days=days_ago)).date().isoformat()


def committed(pipeline: Path) -> int:
    """Rows committed to bronze so far, read from table metadata in this process."""
    with Warehouse(pipeline / ".lakeforge" / "warehouse") as warehouse:
        names = {info.name for info in warehouse.list_tables()}
        if "bronze.trades" not in names:
            return 0
        return warehouse.open_table("bronze.trades").stats().rows


def test_sigkill_mid_stream_loses_and_duplicates_nothing(stocks: Path) -> None:
    rng = random.Random(7)
    # Small, frequent batches so that most kills land in the middle of a commit.
    small = {"LAKEFORGE__STREAM__BATCH_ROWS": "5000", "LAKEFORGE__STREAM__BATCH_INTERVAL": "50ms"}
    producer = start("produce", "--count", "400000", "--rate", "20000", "--quiet", pipeline=stocks)
    progress = []
    try:
        for _ in range(6):
            before = committed(stocks)
            runner = start("process", "--quiet", pipeline=stocks, env=small)
            # Kill only once the runner is committing, at a random moment after that.
            deadline = time.monotonic() + 60
            while committed(stocks) == before and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(rng.uniform(0.0, 1.0))
            os.kill(runner.pid, signal.SIGKILL)
            runner.wait()
            assert runner.returncode == -signal.SIGKILL
            progress.append(committed(stocks))
        assert producer.wait(timeout=120) == 0
    finally:
        if producer.poll() is None:
            producer.kill()
    # Each run committed something before it was killed, so kills hit a working runner.
    print("committed after each kill:", progress)
    assert all(later > earlier for earlier, later in itertools.pairwise(progress)), progress
    lakeforge("process", "--until-drained", "--quiet", pipeline=stocks)
    report = lakeforge_json("verify", pipeline=stocks)
    assert report["ok"], report
    assert bronze_counts(stocks) == {"iceberg": 400_000, "delta": 400_000}


def test_second_runner_is_refused(stocks: Path) -> None:
    lakeforge("produce", "--count", "1000", "--rate", "0", "--quiet", pipeline=stocks)
    first = start("process", pipeline=stocks)
    try:
        time.sleep(3)
        assert first.poll() is None
        second = lakeforge("process", "--until-drained", pipeline=stocks, check=False)
        assert second.returncode != 0
        assert "already running" in second.stderr
    finally:
        first.send_signal(signal.SIGINT)
        first.wait(timeout=60)
    assert first.returncode == 0, first.stderr.read() if first.stderr else ""


def test_ctrl_c_stops_cleanly_and_nothing_is_half_committed(stocks: Path) -> None:
    lakeforge("produce", "--count", "300000", "--rate", "0", "--quiet", pipeline=stocks)
    runner = start("process", pipeline=stocks)
    # Interrupt it mid-stream, not while it still imports (a fixed sleep raced with a
    # loaded machine): once it advertises its metrics, it is running batches.
    advertised = stocks / ".lakeforge" / "run" / "runner.json"
    deadline = time.monotonic() + 120
    while not advertised.exists():
        assert time.monotonic() < deadline and runner.poll() is None
        time.sleep(0.1)
    time.sleep(1)
    runner.send_signal(signal.SIGINT)
    code = runner.wait(timeout=60)
    assert code == 0, runner.stderr.read() if runner.stderr else ""
    assert lakeforge_json("verify", pipeline=stocks)["ok"]
    counts = bronze_counts(stocks)
    assert counts["iceberg"] == counts["delta"]


def test_second_producer_is_refused(stocks: Path) -> None:
    first = start("produce", "--rate", "1000", "--quiet", pipeline=stocks)
    try:
        deadline = time.monotonic() + 60
        while not (stocks / ".lakeforge" / "producer.lock").exists():
            assert time.monotonic() < deadline
            time.sleep(0.1)
        time.sleep(1)
        second = lakeforge("produce", "--count", "10", pipeline=stocks, check=False)
        assert second.returncode != 0
        assert "the producer of 'stocks' is already running" in second.stderr
    finally:
        first.send_signal(signal.SIGINT)
        first.wait(timeout=60)
