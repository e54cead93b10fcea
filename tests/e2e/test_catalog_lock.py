"""Another process holds the lake catalog: a commit waits, then the runner says so.

A real SQLite lock on the real catalog file: another connection in an exclusive
transaction, as a tool with the catalog open in a long transaction would hold it.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from lakeforge.lake import Warehouse
from lakeforge.lake.warehouse import CATALOG_TIMEOUT_S
from tests.lake.tables import SCHEMA, trades
from tests.lakeforge_cli import lakeforge, lakeforge_json, start


def hold_catalog(catalog: Path, seconds: float) -> threading.Thread:
    """Lock ``catalog`` exclusively for ``seconds``, from another connection."""
    locked = threading.Event()

    def hold() -> None:
        connection = sqlite3.connect(catalog, isolation_level=None)
        connection.execute("BEGIN EXCLUSIVE")
        locked.set()
        time.sleep(seconds)
        connection.execute("COMMIT")
        connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    locked.wait(10)
    return thread


def test_a_commit_waits_for_a_briefly_locked_catalog(tmp_path: Path) -> None:
    with Warehouse(tmp_path / "lake") as warehouse:
        table = warehouse.table("bronze.trades", SCHEMA)
        table.commit(trades(0, 0, 10), {0: 10})
        holder = hold_catalog(tmp_path / "lake" / "catalog.db", 3)
        began = time.monotonic()
        result = table.commit(trades(0, 10, 10), {0: 20})
        holder.join()
        assert result is not None and result.rows == 10
        assert time.monotonic() - began > 2  # it did wait for the lock
        assert table.read("iceberg").num_rows == table.read("delta").num_rows == 20


def committed(root: Path) -> int:
    with Warehouse(root) as warehouse:
        if "bronze.trades" not in {info.name for info in warehouse.list_tables()}:
            return 0
        return sum(warehouse.open_table("bronze.trades").positions().values())


def test_a_catalog_locked_past_the_timeout_stops_the_runner_clearly(stocks: Path) -> None:
    lakeforge("produce", "--count", "60000", "--rate", "0", "--quiet", pipeline=stocks)
    # Small batches: many commits, so the lock comes while there is work left.
    runner = start("process", pipeline=stocks, env={"LAKEFORGE__STREAM__BATCH_ROWS": "500"})
    root = stocks / ".lakeforge" / "warehouse"
    deadline = time.monotonic() + 90
    while not (root / "catalog.db").exists() or committed(root) < 500:
        assert time.monotonic() < deadline and runner.poll() is None, "no first commit"
        time.sleep(0.1)
    lock = sqlite3.connect(root / "catalog.db", isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    began = time.monotonic()
    try:
        out, err = runner.communicate(timeout=3 * CATALOG_TIMEOUT_S)
    finally:
        lock.execute("COMMIT")
        lock.close()
        if runner.poll() is None:
            runner.kill()
    took = time.monotonic() - began
    stderr = err.decode()
    assert runner.returncode == 1, out.decode() + stderr
    assert "a lake database stayed locked by another process" in stderr, stderr
    assert "fuser" in stderr and "Traceback" not in stderr
    assert took >= CATALOG_TIMEOUT_S - 1, f"gave up after {took:.0f}s, before the timeout"
    # Released, the next run finishes the work; nothing was lost or doubled.
    lakeforge("process", "--until-drained", "--quiet", pipeline=stocks)
    assert lakeforge_json("verify", pipeline=stocks)["ok"]
    assert committed(root) == 60_000
