"""Crashes between the steps of a commit: a real SIGKILL in a child process, then reopen."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from deltalake import DeltaTable

from lakeforge.errors import DataIntegrityError
from lakeforge.lake import LakeTable, Warehouse
from tests.lake.child import killed_in_child
from tests.lake.tables import SCHEMA, in_order, positions_of, trades


def _commit_in_child(root: Path, start: int, count: int, crash_after: str | None) -> int:
    """Commit partition 0 offsets ``start ..`` in a fresh process; return its exit code."""
    args = ["commit", str(root), "bronze.trades", "0", str(start), str(count)]
    return killed_in_child(args, crash_after, timeout=60)


def _iceberg_snapshots(table: LakeTable) -> int:
    return len(table._iceberg.table.metadata.snapshots)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A warehouse whose table already holds offsets 0-9 of partition 0."""
    with Warehouse(tmp_path / "lake") as warehouse:
        warehouse.table("bronze.trades", SCHEMA).commit(trades(0, 0, 10), {0: 10})
    return tmp_path / "lake"


def test_a_kill_after_the_delta_commit_is_repaired_on_open(root: Path) -> None:
    assert _commit_in_child(root, 10, 15, crash_after="delta") == -signal.SIGKILL
    # Delta holds the batch, Iceberg does not: exactly the state a crash leaves.
    assert DeltaTable(str(root / "delta/bronze/trades")).transaction_version("lakeforge") == 2

    with Warehouse(root) as warehouse:
        table = warehouse.open_table("bronze.trades")
        assert table.positions() == {0: 25}
        assert table.stats().sequence == 2 and table.stats().positions == {0: 25}
        iceberg, delta = in_order(table.read("iceberg")), in_order(table.read("delta"))
        assert iceberg.equals(delta)
        assert positions_of(iceberg) == [(0, o) for o in range(25)]
        snapshots, location = _iceberg_snapshots(table), table.iceberg_metadata_location

    with Warehouse(root) as warehouse:  # a second reopen changes nothing
        table = warehouse.open_table("bronze.trades")
        assert (_iceberg_snapshots(table), table.iceberg_metadata_location) == (snapshots, location)
        # and the runner resumes from the stored position, without duplicates
        table.commit(trades(0, 20, 10), {0: 30})
        assert positions_of(table.read("iceberg")) == [(0, o) for o in range(30)]


def test_a_kill_after_the_parquet_write_leaves_only_an_orphan(root: Path) -> None:
    assert _commit_in_child(root, 10, 15, crash_after="parquet") == -signal.SIGKILL
    with Warehouse(root) as warehouse:
        table = warehouse.open_table("bronze.trades")
        assert table.positions() == {0: 10}
        assert table.read("iceberg").num_rows == table.read("delta").num_rows == 10
        assert len(list((root / "delta/bronze/trades/data").iterdir())) == 2  # one orphan


def test_several_missing_batches_are_replayed_in_order(root: Path) -> None:
    for start in (10, 20, 30):  # three crashed commits, each after Delta
        assert _commit_in_child(root, start, 10, crash_after="delta") == -signal.SIGKILL
    with Warehouse(root) as warehouse:
        table = warehouse.open_table("bronze.trades")
        sequences = [
            int(s.summary.additional_properties["lakeforge.sequence"])  # type: ignore[union-attr]
            for s in table._iceberg.table.metadata.snapshots
        ]
        assert sequences == [1, 2, 3, 4]
        assert positions_of(table.read("iceberg")) == [(0, o) for o in range(40)]


def test_a_clean_child_commit_needs_no_repair(root: Path) -> None:
    assert _commit_in_child(root, 10, 5, crash_after=None) == 0
    with Warehouse(root) as warehouse:
        table = warehouse.open_table("bronze.trades")
        assert table.positions() == {0: 15} and _iceberg_snapshots(table) == 2


def test_iceberg_ahead_of_delta_is_refused(root: Path) -> None:
    with Warehouse(root) as warehouse:
        warehouse.open_table("bronze.trades").commit(trades(0, 10, 5), {0: 15})
    # Roll Delta's log back one commit, as restoring an old copy of it would.
    (root / "delta/bronze/trades/_delta_log/00000000000000000002.json").unlink()
    with (
        Warehouse(root) as warehouse,
        pytest.raises(DataIntegrityError, match="Iceberg holds batch 2"),
    ):
        warehouse.open_table("bronze.trades")


def test_a_snapshot_by_another_tool_does_not_hide_the_positions(root: Path) -> None:
    with Warehouse(root) as warehouse:
        table = warehouse.open_table("bronze.trades")
        iceberg = table._iceberg.table
        with iceberg.transaction() as transaction:  # e.g. a maintenance job: no lakeforge keys
            transaction.update_snapshot().fast_append().commit()
    with Warehouse(root) as warehouse:
        table = warehouse.open_table("bronze.trades")  # nothing to replay
        assert table.stats().positions == {0: 10} and table.stats().sequence == 1
        table.commit(trades(0, 5, 10), {0: 15})
        assert positions_of(table.read("iceberg")) == [(0, o) for o in range(15)]
