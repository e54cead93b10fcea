"""Compaction and vacuum on real tables: rows kept exactly once, readers unharmed."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable
from pyiceberg.table import StaticTable

from lakeforge.lake import LakeTable, Warehouse
from lakeforge.lake.delta_log import LiveFile
from lakeforge.lake.maintain import MIB, maintain_table, plan_compaction
from tests.lake.child import killed_in_child
from tests.lake.tables import SCHEMA, in_order, positions_of, trades

ROOT = Path(__file__).resolve().parents[2]


def _fill(table: LakeTable, batches: int, size: int = 50, start: int = 0) -> int:
    """Commit ``batches`` batches of partition 0 from ``start``; return the next offset."""
    for _ in range(batches):
        table.commit(trades(0, start, size), {0: start + size})
        start += size
    return start


def _both_hold(table: LakeTable, end: int) -> None:
    """Both formats hold offsets 0 .. end-1 of partition 0 once each, with equal rows."""
    iceberg, delta = in_order(table.read("iceberg")), in_order(table.read("delta"))
    assert positions_of(iceberg) == [(0, o) for o in range(end)]
    assert iceberg.equals(delta)
    assert iceberg.equals(in_order(trades(0, 0, end)))


def _data_files(root: Path) -> set[str]:
    return {p.name for p in (root / "delta/bronze/trades/data").glob("*.parquet")}


def test_plan_merges_runs_of_small_neighbours_up_to_the_target() -> None:
    def f(name: str, mb: float) -> LiveFile:
        return LiveFile(f"data/{name}.parquet", int(mb * MIB), 1)

    files = [f("1", 1), f("2", 1), f("3", 6), f("4", 1), f("5", 2), f("6", 2), f("7", 1)]
    groups = plan_compaction(files, 8 * MIB)
    # 3 is big (>= half the target): never merged, and it splits the runs around it;
    # 4-7 make 6 MB, within the target.
    assert [[g.path[5:6] for g in group] for group in groups] == [["1", "2"], ["4", "5", "6", "7"]]
    # At 3 MB, 5 and 6 are big too, leaving 4 and 7 alone; 1 and 2 fill a file.
    assert plan_compaction(files, 3 * MIB) == [[files[0], files[1]]]
    assert plan_compaction([f("1", 1)], 8 * MIB) == []
    tiny = [LiveFile(f"data/{i:04d}.parquet", 1000, 1) for i in range(2500)]
    assert [len(g) for g in plan_compaction(tiny, 256 * MIB)] == [1000, 1000, 500]


def test_compaction_keeps_every_row_once_in_both_formats(warehouse: Warehouse) -> None:
    table = warehouse.table("bronze.trades", SCHEMA)
    end = _fill(table, 12)
    before = table.stats()
    paths = [f.path for f in table.live_files()]

    result = table.compact(paths[:10])

    assert result is not None and result.rows == 500
    assert result.positions == {0: end} and table.positions() == {0: end}
    assert result.sequence == before.sequence + 1
    live = [f.path for f in table.live_files()]
    assert len(live) == 3 and set(paths[:10]).isdisjoint(live)
    stats = table.stats()
    assert (stats.rows, stats.files) == (end, 3)
    assert stats.last_properties == {"lakeforge.compacted_files": "10"}
    _both_hold(table, end)
    # a runner carries on after it, and a repeat of the same compaction does nothing
    end = _fill(table, 2, start=end)
    assert table.compact(paths[:10]) is None
    _both_hold(table, end)


def test_compaction_across_a_schema_change_reads_old_files_as_null(tmp_path: Path) -> None:
    with Warehouse(tmp_path / "lake") as warehouse:
        table = warehouse.table("bronze.trades", SCHEMA)
        end = _fill(table, 3)
        wider = SCHEMA.append(pa.field("venue", pa.string()))
        table = warehouse.table("bronze.trades", wider)
        rows = trades(0, end, 50)
        rows = rows.append_column("venue", pa.array(["X"] * 50))
        table.commit(rows, {0: end + 50})
        paths = [f.path for f in table.live_files()]

        assert table.compact(paths) is not None

        for format in ("iceberg", "delta"):
            venues = in_order(table.read(format)).column("venue").to_pylist()
            assert venues == [None] * 150 + ["X"] * 50
        assert in_order(table.read("iceberg")).equals(in_order(table.read("delta")))


def test_a_kill_between_the_compactions_delta_and_iceberg_commits_is_repaired(
    tmp_path: Path,
) -> None:
    root = tmp_path / "lake"
    with Warehouse(root) as warehouse:
        _fill(warehouse.table("bronze.trades", SCHEMA), 6)
    args = ["compact-all", str(root), "bronze.trades"]
    assert killed_in_child(args, crash_after="compact-delta") == -signal.SIGKILL
    delta = DeltaTable(str(root / "delta/bronze/trades"))
    assert delta.transaction_version("lakeforge") == 7  # the compaction, in Delta only

    with Warehouse(root) as warehouse:
        table = warehouse.open_table("bronze.trades")  # opening replays it into Iceberg
        assert table.stats().sequence == 7 and table.stats().files == 1
        assert len(table.live_files()) == 1
        _both_hold(table, 300)


def test_compaction_while_a_runner_commits_in_another_process(tmp_path: Path) -> None:
    root, end = tmp_path / "lake", 6000
    with Warehouse(root) as warehouse:
        warehouse.table("bronze.trades", SCHEMA)
    start_at = str(time.time() + 3)
    child = [sys.executable, "-m", "tests.lake.child"]
    runner = subprocess.Popen(
        [*child, "runner", str(root), "bronze.trades", str(end), "40", start_at],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    compactor = subprocess.Popen(
        [*child, "compact", str(root), "bronze.trades", str(end)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    runner.communicate(timeout=300)
    compactor_out, _ = compactor.communicate(timeout=300)
    assert runner.returncode == 0 and compactor.returncode == 0

    assert int(compactor_out.split()[0]) >= 3  # it did compact while the runner ran
    with Warehouse(root) as warehouse:
        table = warehouse.open_table("bronze.trades")
        assert table.positions() == {0: end}
        assert len(table.live_files()) <= 3
        _both_hold(table, end)


def test_vacuum_keeps_what_readers_can_need_and_deletes_the_rest(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    with Warehouse(root) as warehouse:
        table = warehouse.table("bronze.trades", SCHEMA)
        end = _fill(table, 8)
        old_files = _data_files(root)
        # A reader (a transform) pins the state before the compaction.
        pinned = tmp_path / "pinned.metadata.json"
        shutil.copyfile(table.iceberg_metadata_location, pinned)
        old_delta_version = DeltaTable(str(root / "delta/bronze/trades")).version()
        table.compact([f.path for f in table.live_files()])
        # A batch being written by a runner belongs to no commit yet.
        in_flight = root / "delta/bronze/trades/data/0000000099-inflight.parquet"
        in_flight.write_bytes(b"PAR1")

        # Within the retention period nothing a reader may need goes.
        assert table.vacuum(1).data_files == 0
        assert old_files <= _data_files(root) and in_flight.exists()

        # Past it, Iceberg snapshots still in the metadata keep their files ...
        assert table.vacuum(0).data_files == 1  # only the abandoned in-flight file
        assert old_files <= _data_files(root)
        end = _fill(table, 25, start=end)  # ... until the runner's commits expire them
        assert table.vacuum(0, pinned=[pinned]).data_files == 0  # the pinned state needs them
        assert StaticTable.from_metadata(str(pinned)).scan().to_arrow().num_rows == 400
        assert DeltaTable(str(root / "delta/bronze/trades"), version=old_delta_version)

        freed = table.vacuum(0)
        assert freed.data_files == len(old_files) and freed.bytes > 0
        assert not old_files & _data_files(root)
        _both_hold(table, end)
        # Delta still names the deleted files (its tombstones age out with its log).
        assert table.vacuum(0).data_files == 0
    with Warehouse(root) as warehouse:  # and a fresh reader of the current state is fine
        _both_hold(warehouse.open_table("bronze.trades"), end)


def test_maintain_table_reports_what_it_did(warehouse: Warehouse) -> None:
    table = warehouse.table("bronze.trades", SCHEMA)
    end = _fill(table, 30)

    report = maintain_table(table, target_file_mb=1, retain_hours=1)

    assert (report.files_before, report.files_after) == (30, 1)
    assert (report.compactions, report.files_compacted) == (1, 30)
    assert report.vacuum.data_files == 0  # within the retention period
    assert report.to_json()["files_after"] == 1
    _both_hold(table, end)
    again = maintain_table(table, target_file_mb=1, retain_hours=1)
    assert (again.compactions, again.files_after) == (0, 1)


@pytest.mark.parametrize("paths", [[], ["data/only-one.parquet"]])
def test_compaction_needs_two_files(warehouse: Warehouse, paths: list[str]) -> None:
    with pytest.raises(ValueError, match="at least two files"):
        warehouse.table("bronze.trades", SCHEMA).compact(paths)
