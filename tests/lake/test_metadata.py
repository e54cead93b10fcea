"""Metadata stays bounded as commits pile up, and the tables stay readable."""

from __future__ import annotations

from pathlib import Path

import pytest
from deltalake import DeltaTable

from lakeforge.lake import LakeTable, Warehouse, delta_log
from lakeforge.lake.delta_log import CHECKPOINT_INTERVAL
from lakeforge.lake.iceberg_log import EXPIRY_SLACK, MANIFESTS_TO_MERGE, SNAPSHOTS_KEPT
from tests.lake.tables import SCHEMA, positions_of, trades


def test_many_small_commits_keep_metadata_bounded(trades_table: LakeTable) -> None:
    commits = MANIFESTS_TO_MERGE + 10
    for i in range(commits):
        trades_table.commit(trades(0, i * 3, 3), {0: i * 3 + 3})
    iceberg = trades_table._iceberg.table
    assert len(iceberg.metadata.snapshots) < SNAPSHOTS_KEPT + EXPIRY_SLACK
    versions = list(Path(trades_table.iceberg_metadata_location).parent.glob("*.metadata.json"))
    assert len(versions) <= SNAPSHOTS_KEPT + 1
    snapshot = iceberg.current_snapshot()
    assert snapshot is not None and len(snapshot.manifests(iceberg.io)) < MANIFESTS_TO_MERGE
    checkpoints = list(Path(trades_table.delta_location, "_delta_log").glob("*.checkpoint.parquet"))
    assert checkpoints  # Delta readers replay at most a checkpoint interval of commits
    expected = [(0, o) for o in range(commits * 3)]
    assert positions_of(trades_table.read("iceberg")) == expected
    assert positions_of(DeltaTable(trades_table.delta_location).to_pyarrow_table()) == expected
    stats = trades_table.stats()
    assert (stats.rows, stats.files, stats.sequence) == (commits * 3, commits, commits)


def test_old_delta_commits_are_cleaned_up_after_iceberg_has_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delta_log, "LOG_RETENTION", "interval 0 seconds")
    with Warehouse(tmp_path / "lake") as warehouse:
        table = warehouse.table("bronze.trades", SCHEMA)
        for i in range(CHECKPOINT_INTERVAL * 2 + 3):
            table.commit(trades(0, i, 1), {0: i + 1})
        log = Path(table.delta_location, "_delta_log")
        commits = sorted(p.name for p in log.glob("*.json"))
        assert commits[0] == f"{CHECKPOINT_INTERVAL * 2 - 1:020d}.json"  # the last checkpoint's
    with Warehouse(tmp_path / "lake") as warehouse:
        table = warehouse.open_table("bronze.trades")
        assert table.positions() == {0: CHECKPOINT_INTERVAL * 2 + 3}
        assert (
            table.read("delta").num_rows
            == table.read("iceberg").num_rows
            == CHECKPOINT_INTERVAL * 2 + 3
        )
