"""Another process holds the lake catalog: a commit waits for it rather than fail.

A real SQLite lock on the real catalog file: another connection in an exclusive
transaction, as a tool with the catalog open in a long transaction would hold it.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from lakeforge.lake import Warehouse
from tests.lake.tables import SCHEMA, trades


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
