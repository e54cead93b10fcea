"""Two writers on one table (a misconfigured second runner): never a duplicated row."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from lakeforge.lake import Warehouse
from tests.lake.tables import SCHEMA, in_order, positions_of, trades

ROOT = Path(__file__).resolve().parents[2]


def test_two_table_objects_commit_overlapping_batches(tmp_path: Path) -> None:
    with Warehouse(tmp_path / "lake") as one, Warehouse(tmp_path / "lake") as two:
        first, second = one.table("bronze.trades", SCHEMA), two.table("bronze.trades", SCHEMA)
        first.commit(trades(0, 0, 10), {0: 10})
        # The second object never saw that commit; it must not store offsets 0-9 again.
        result = second.commit(trades(0, 0, 15), {0: 15})
        assert result is not None and (result.rows, result.sequence) == (5, 2)
        result = first.commit(trades(0, 12, 8), {0: 20})
        assert result is not None and (result.rows, result.sequence) == (5, 3)
        for table in (first, second):
            assert positions_of(table.read("iceberg")) == [(0, o) for o in range(20)]
            assert positions_of(table.read("delta")) == [(0, o) for o in range(20)]


def test_two_processes_commit_the_same_source_at_once(tmp_path: Path) -> None:
    root, end = tmp_path / "lake", 150
    with Warehouse(root) as warehouse:
        warehouse.table("bronze.trades", SCHEMA)
    command = [sys.executable, "-m", "tests.lake.child", "runner", str(root), "bronze.trades"]
    start_at = str(time.time() + 4)  # past both children's start-up
    children = [
        subprocess.Popen(
            [*command, str(end), str(batch), start_at], cwd=ROOT, stdout=subprocess.PIPE
        )
        for batch in (7, 11)
    ]
    for child in children:
        out, _ = child.communicate(timeout=90)
        assert child.returncode == 0, out
    with Warehouse(root) as warehouse:
        table = warehouse.open_table("bronze.trades")
        iceberg, delta = in_order(table.read("iceberg")), in_order(table.read("delta"))
        assert positions_of(iceberg) == [(0, o) for o in range(end)]
        assert iceberg.equals(delta)
        assert table.positions() == {0: end} == table.stats().positions
