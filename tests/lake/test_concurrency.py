"""Two writers on one table (a misconfigured second runner): never a duplicated row."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from lakeforge.lake import Warehouse
from lakeforge.lake.base import PositionsError
from tests.lake.tables import SCHEMA, errors_when_raced, in_order, positions_of, trades

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


def test_a_shared_writer_behind_another_keeps_the_furthest_position(tmp_path: Path) -> None:
    """Scale-out: a runner lost partition 0 mid-batch; its late commit adds only new rows."""
    with Warehouse(tmp_path / "lake") as one, Warehouse(tmp_path / "lake") as two:
        old_owner, new_owner = (
            one.table("bronze.trades", SCHEMA),
            two.table("bronze.trades", SCHEMA),
        )
        old_owner.commit(trades(0, 0, 10), {0: 10, 1: 0}, shared=True)
        new_owner.commit(trades(0, 10, 20), {0: 30}, shared=True)
        # The old owner's in-flight batch: offsets 10-24 of partition 0, position 25, which
        # is behind the 30 stored. Without `shared` that is refused (a second runner).
        with pytest.raises(PositionsError, match="already stored"):
            old_owner.commit(trades(0, 10, 15), {0: 25, 1: 0})
        assert old_owner.commit(trades(0, 10, 15), {0: 25, 1: 0}, shared=True) is None
        # Ahead of the stored position: only the rows past it are added.
        result = old_owner.commit(trades(0, 25, 10), {0: 35}, shared=True)
        assert result is not None and result.rows == 5 and result.positions == {0: 35, 1: 0}
        for table in (old_owner, new_owner):
            assert positions_of(in_order(table.read("iceberg"))) == [(0, o) for o in range(35)]
            assert in_order(table.read("iceberg")).equals(in_order(table.read("delta")))


def test_runners_starting_together_create_one_table(tmp_path: Path) -> None:
    """Several runners open a table that does not exist yet at the same moment."""
    for attempt in range(4):
        root = tmp_path / f"lake{attempt}"
        Warehouse(root).close()  # the catalog exists; the namespace and table do not

        def open_table(ready: threading.Barrier, root: Path = root) -> None:
            with Warehouse(root) as warehouse:
                ready.wait()
                warehouse.table("bronze.trades", SCHEMA)

        errors = errors_when_raced(6, open_table)
        assert not errors, errors
        with Warehouse(root) as warehouse:
            assert [info.name for info in warehouse.list_tables()] == ["bronze.trades"]


def test_processes_opening_a_new_warehouse_together_all_succeed(tmp_path: Path) -> None:
    """A runner, a producer and `lakeforge status` start at once on a new warehouse."""
    for attempt in range(5):
        root = tmp_path / f"lake{attempt}"

        def open_warehouse(ready: threading.Barrier, root: Path = root) -> None:
            ready.wait()
            Warehouse(root).close()

        errors = errors_when_raced(6, open_warehouse)
        assert not errors, errors
        with Warehouse(root) as warehouse:
            assert warehouse.list_tables() == []
