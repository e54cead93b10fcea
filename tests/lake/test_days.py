"""Tables partitioned by day: one file per day a batch spans, compaction within a day."""

from __future__ import annotations

import signal
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from pyiceberg.expressions import GreaterThanOrEqual

from lakeforge.errors import ConfigError
from lakeforge.lake import LakeTable, Warehouse
from lakeforge.lake.delta_log import LiveFile
from lakeforge.lake.maintain import MIB, maintain_table, plan_compaction
from lakeforge.serve.extensions import load_lake_extensions
from tests.lake.child import killed_in_child
from tests.lake.tables import (
    DAY_COLUMN,
    SCHEMA,
    SCHEMA_BY_DAY,
    in_order,
    positions_of,
    trades_ingested,
)

MIDNIGHT = datetime(2026, 11, 27, tzinfo=UTC)
LAST_MOMENT = MIDNIGHT - timedelta(microseconds=1)


def _day_table(warehouse: Warehouse) -> LakeTable:
    return warehouse.table("bronze.trades", SCHEMA_BY_DAY, DAY_COLUMN)


def _noon(day: int) -> datetime:
    return datetime(2026, 11, day, 12, tzinfo=UTC)


def _iceberg_days(table: LakeTable) -> dict[str, date]:
    """Each live Iceberg data file's day partition, by file name."""
    files = table._iceberg.table.inspect.files().to_pylist()
    return {
        row["file_path"].rsplit("/", 1)[-1]: row["partition"]["ingested_at_day"] for row in files
    }


def _both_hold(table: LakeTable, end: int) -> pa.Table:
    iceberg, delta = in_order(table.read("iceberg")), in_order(table.read("delta"))
    assert positions_of(iceberg) == [(0, o) for o in range(end)]
    assert iceberg.equals(delta)
    return iceberg


def test_a_batch_across_midnight_is_one_file_per_day_in_both_formats(warehouse: Warehouse) -> None:
    table = _day_table(warehouse)
    assert table.partition_by_day == DAY_COLUMN
    rows = trades_ingested(0, 100, LAST_MOMENT, MIDNIGHT)

    result = table.commit(rows, {0: 100})

    assert result is not None and result.rows == 100 and len(result.files) == 2
    live = table.live_files()
    assert [f.day for f in live] == ["2026-11-26", "2026-11-27"]
    assert [f.path.split("/")[1] for f in live] == [
        "ingested_at_day=2026-11-26",
        "ingested_at_day=2026-11-27",
    ]
    assert [f.rows for f in live] == [50, 50]
    names = {f.path.rsplit("/", 1)[-1]: f.day for f in live}
    assert {n: d.isoformat() for n, d in _iceberg_days(table).items()} == names
    assert _both_hold(table, 100).equals(in_order(rows))


def test_readers_of_one_day_skip_the_other_days_files(warehouse: Warehouse) -> None:
    table = _day_table(warehouse)
    for day, start in ((25, 0), (26, 10), (27, 20)):
        table.commit(trades_ingested(start, 10, _noon(day)), {0: start + 10})

    scan = table._iceberg.table.scan(
        row_filter=GreaterThanOrEqual(DAY_COLUMN, "2026-11-27T00:00:00+00:00")
    )
    assert [t.file.record_count for t in scan.plan_files()] == [10]
    connection = duckdb.connect()
    load_lake_extensions(connection)
    location = table.iceberg_metadata_location
    found = connection.execute(
        f"SELECT min(_offset), count(*) FROM iceberg_scan('{location}') "
        f"WHERE {DAY_COLUMN} >= TIMESTAMPTZ '2026-11-27'"
    ).fetchall()
    assert found == [(20, 10)]
    found = connection.execute(
        f"SELECT min(_offset), count(*) FROM delta_scan('{table.delta_location}') "
        f"WHERE {DAY_COLUMN} < TIMESTAMPTZ '2026-11-26'"
    ).fetchall()
    assert found == [(0, 10)]


def test_compaction_merges_files_of_the_same_day_only(warehouse: Warehouse) -> None:
    table = _day_table(warehouse)
    start = 0
    for day in (25, 26, 27):
        for _ in range(4):
            table.commit(trades_ingested(start, 25, _noon(day)), {0: start + 25})
            start += 25
    assert len(table.live_files()) == 12

    merged = {f.path for f in table.live_files()}
    report = maintain_table(table, target_file_mb=64, retain_hours=0)

    assert (report.files_before, report.files_after, report.compactions) == (12, 3, 3)
    live = table.live_files()
    assert [(f.day, f.rows) for f in live] == [
        ("2026-11-25", 100),
        ("2026-11-26", 100),
        ("2026-11-27", 100),
    ]
    assert sorted(d.isoformat() for d in _iceberg_days(table).values()) == [f.day for f in live]
    assert table.positions() == {0: 300}
    _both_hold(table, 300)
    # vacuum sees the merged files in their day folders (kept while snapshots name them)
    assert merged <= set(table._delta.unreferenced_files(0))
    # the table goes on taking batches afterwards, in the day they are ingested
    table.commit(trades_ingested(300, 5, _noon(27)), {0: 305})
    _both_hold(table, 305)


def test_compacting_files_of_two_days_is_refused_before_anything_is_written(
    warehouse: Warehouse,
) -> None:
    table = _day_table(warehouse)
    table.commit(trades_ingested(0, 10, _noon(26)), {0: 10})
    table.commit(trades_ingested(10, 10, _noon(27)), {0: 20})
    paths = [f.path for f in table.live_files()]
    sequence = table.stats().sequence

    with pytest.raises(ValueError, match="different folders"):
        table.compact(paths)

    assert [f.path for f in table.live_files()] == paths and table.stats().sequence == sequence
    files = {
        p.relative_to(Path(table.delta_location)).as_posix()
        for p in Path(table.delta_location).glob("data/*/*.parquet")
    }
    assert files == set(paths)


def test_the_plan_never_groups_files_across_days() -> None:
    def f(day: str, n: int) -> LiveFile:
        return LiveFile(f"data/ingested_at_day={day}/{n:010d}-x.parquet", MIB, 1)

    files = [f("2026-11-26", 1), f("2026-11-26", 2), f("2026-11-27", 3), f("2026-11-27", 4)]
    groups = plan_compaction([*files, f("2026-11-28", 5)], 64 * MIB)
    assert groups == [files[:2], files[2:]]


def test_a_kill_after_the_delta_commit_is_replayed_into_the_right_day(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    with Warehouse(root) as warehouse:
        _day_table(warehouse).commit(trades_ingested(0, 10, _noon(26)), {0: 10})
    args = ["commit-by-day", str(root), "bronze.trades", "10", "15", "2026-11-27"]
    assert killed_in_child(args, crash_after="delta") == -signal.SIGKILL

    with Warehouse(root) as warehouse:
        table = warehouse.open_table("bronze.trades")  # replays the batch into Iceberg
        assert table.stats().sequence == 2
        assert sorted(d.isoformat() for d in _iceberg_days(table).values()) == [
            "2026-11-26",
            "2026-11-27",
        ]
        _both_hold(table, 25)


@pytest.mark.parametrize(
    ("schema", "column", "problem"),
    [
        (SCHEMA_BY_DAY, "ingested", "no such column"),
        (SCHEMA_BY_DAY, "price", "it is double"),
        (SCHEMA_BY_DAY, "event_time", "(nullable)"),
        (
            SCHEMA.append(pa.field("day", pa.timestamp("us"), nullable=False)),
            "day",
            "it is timestamp[us]",
        ),
        (
            SCHEMA_BY_DAY.append(pa.field("ingested_at_day", pa.string())),
            DAY_COLUMN,
            "a column named 'ingested_at_day'",
        ),
    ],
)
def test_a_column_that_cannot_partition_by_day_is_refused(
    warehouse: Warehouse, schema: pa.Schema, column: str, problem: str
) -> None:
    with pytest.raises(ConfigError, match="cannot partition by day") as caught:
        warehouse.table("bronze.trades", schema, column)
    assert problem in str(caught.value)
    assert warehouse.list_tables() == []  # nothing was created


def test_a_table_keeps_the_partitioning_it_was_created_with(warehouse: Warehouse) -> None:
    plain = warehouse.table("bronze.trades", SCHEMA_BY_DAY)
    plain.commit(trades_ingested(0, 10, LAST_MOMENT, MIDNIGHT), {0: 10})

    reopened = _day_table(warehouse)

    assert reopened.partition_by_day is None
    reopened.commit(trades_ingested(10, 10, _noon(27)), {0: 20})
    assert [f.day for f in reopened.live_files()] == [None, None]
    _both_hold(reopened, 20)


def test_a_kill_inside_a_compaction_is_replayed_into_the_right_day(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    with Warehouse(root) as warehouse:
        table = _day_table(warehouse)
        for start in range(0, 40, 10):
            table.commit(trades_ingested(start, 10, _noon(27)), {0: start + 10})
    args = ["compact-all", str(root), "bronze.trades"]
    assert killed_in_child(args, crash_after="compact-delta") == -signal.SIGKILL

    with Warehouse(root) as warehouse:
        table = warehouse.open_table("bronze.trades")  # opening replays it into Iceberg
        assert table.stats().sequence == 5 and table.stats().files == 1
        assert [(f.day, f.rows) for f in table.live_files()] == [("2026-11-27", 40)]
        assert [d.isoformat() for d in _iceberg_days(table).values()] == ["2026-11-27"]
        _both_hold(table, 40)


def test_vacuum_deletes_merged_files_in_day_folders(warehouse: Warehouse) -> None:
    table = _day_table(warehouse)
    for start in range(0, 40, 10):
        table.commit(trades_ingested(start, 10, _noon(26)), {0: start + 10})
    merged = {f.path for f in table.live_files()}
    assert table.compact(sorted(merged)) is not None
    # commits go on until Iceberg's kept snapshots no longer name the merged files
    for start in range(40, 440, 10):
        table.commit(trades_ingested(start, 10, _noon(27)), {0: start + 10})

    freed = table.vacuum(0)

    assert freed.data_files == len(merged)
    root = Path(table.delta_location)
    assert not any((root / path).exists() for path in merged)
    _both_hold(table, 440)
