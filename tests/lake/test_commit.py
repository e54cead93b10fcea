"""Committing batches: both formats hold the same rows and positions, exactly once."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from deltalake import DeltaTable
from pyiceberg.catalog.sql import SqlCatalog

from lakeforge.errors import ConfigError, NotFoundError
from lakeforge.lake import LakeTable, PositionsError, Warehouse
from lakeforge.serve.extensions import load_lake_extensions
from tests.lake.tables import SCHEMA, in_order, next_positions, positions_of, trades


def _commit_three(table: LakeTable) -> None:
    for rows in (
        trades(0, 0, 50),
        trades(1, 0, 30),
        pa.concat_tables([trades(0, 50, 20), trades(1, 30, 5)]),
    ):
        assert table.commit(rows, next_positions(rows)) is not None


def test_batches_read_the_same_from_both_formats(trades_table: LakeTable) -> None:
    _commit_three(trades_table)
    iceberg, delta = trades_table.read("iceberg"), trades_table.read("delta")
    assert iceberg.schema.equals(SCHEMA) and delta.schema.equals(SCHEMA)
    assert in_order(iceberg).equals(in_order(delta))
    assert positions_of(iceberg) == [(0, o) for o in range(70)] + [(1, o) for o in range(35)]
    assert trades_table.positions() == {0: 70, 1: 35}


def test_duckdb_sees_no_difference(trades_table: LakeTable) -> None:
    _commit_three(trades_table)
    con = duckdb.connect()
    con.register("ice", trades_table.read("iceberg"))
    con.register("dl", trades_table.read("delta"))
    differences = con.sql(
        "SELECT count(*) FROM ((SELECT * FROM ice EXCEPT ALL SELECT * FROM dl) "
        "UNION ALL (SELECT * FROM dl EXCEPT ALL SELECT * FROM ice))"
    ).fetchone()
    assert differences == (0,)
    assert con.sql(
        "SELECT count(*), count(DISTINCT (_partition, _offset)) FROM ice"
    ).fetchone() == (105, 105)


def test_duckdb_scans_the_tables_themselves(trades_table: LakeTable) -> None:
    con = duckdb.connect()
    load_lake_extensions(con)
    _commit_three(trades_table)
    location = trades_table.iceberg_metadata_location
    iceberg = con.sql(f"SELECT count(*) FROM iceberg_scan('{location}')").fetchone()
    delta = con.sql(f"SELECT count(*) FROM delta_scan('{trades_table.delta_location}')").fetchone()
    assert iceberg == delta == (105,)


def test_the_tables_are_standard_tables(tmp_path: Path, trades_table: LakeTable) -> None:
    _commit_three(trades_table)
    # pyiceberg and delta-rs, used directly, without lakeforge
    catalog = SqlCatalog("lakeforge", uri=f"sqlite:///{tmp_path / 'lake' / 'catalog.db'}")
    by_iceberg = catalog.load_table("bronze.trades").scan().to_arrow()
    by_delta = DeltaTable(trades_table.delta_location).to_pyarrow_table()
    assert (
        positions_of(by_iceberg)
        == positions_of(by_delta)
        == positions_of(trades_table.read("delta"))
    )
    assert by_iceberg.column_names == by_delta.column_names == SCHEMA.names
    assert DeltaTable(trades_table.delta_location).transaction_version("lakeforge") == 3


def test_positions_survive_reopening(tmp_path: Path, trades_table: LakeTable) -> None:
    _commit_three(trades_table)
    with Warehouse(tmp_path / "lake") as again:
        reopened = again.open_table("bronze.trades")
        assert reopened.positions() == {0: 70, 1: 35}
        assert again.table("bronze.trades", SCHEMA).stats().sequence == 3


def test_an_overlapping_batch_adds_only_new_rows(trades_table: LakeTable) -> None:
    trades_table.commit(trades(0, 0, 10), {0: 10})
    assert trades_table.commit(trades(0, 0, 10), {0: 10}) is None  # all stored already
    result = trades_table.commit(trades(0, 5, 10), {0: 15})
    assert result is not None and result.rows == 5
    assert positions_of(trades_table.read("iceberg")) == [(0, o) for o in range(15)]
    assert positions_of(trades_table.read("delta")) == [(0, o) for o in range(15)]


def test_positions_never_go_backwards(trades_table: LakeTable) -> None:
    trades_table.commit(trades(0, 0, 10), {0: 10})
    with pytest.raises(PositionsError, match="partition 0: asked to store offset 5"):
        trades_table.commit(trades(0, 0, 5), {0: 5})
    assert trades_table.positions() == {0: 10}


def test_rows_must_lie_below_their_positions(trades_table: LakeTable) -> None:
    with pytest.raises(PositionsError, match="offset 9, at or past the position 9"):
        trades_table.commit(trades(0, 0, 10), {0: 9})
    with pytest.raises(PositionsError, match=r"partitions \[1\] have no position"):
        trades_table.commit(trades(1, 0, 10), {0: 10})
    assert trades_table.positions() == {}
    assert trades_table.stats().rows == 0


def test_an_empty_batch_still_advances_positions(trades_table: LakeTable) -> None:
    trades_table.commit(trades(0, 0, 10), {0: 10})
    result = trades_table.commit(
        SCHEMA.empty_table(), {0: 25, 3: 7}, {"lakeforge.max_event_time": "t"}
    )
    assert result is not None and result.rows == 0 and result.files == ()
    assert trades_table.positions() == {0: 25, 3: 7}
    stats = trades_table.stats()
    assert (stats.rows, stats.files, stats.sequence) == (10, 1, 2)
    assert stats.positions == {0: 25, 3: 7}
    assert stats.last_properties == {"lakeforge.max_event_time": "t"}
    assert trades_table.commit(SCHEMA.empty_table(), {0: 25}) is None  # nothing new


def test_a_new_table_is_empty_in_both_formats(
    warehouse: Warehouse, trades_table: LakeTable
) -> None:
    assert trades_table.positions() == {}
    assert trades_table.delta_rows() == 0
    for format in ("iceberg", "delta"):
        read = trades_table.read(format)
        assert read.num_rows == 0 and read.schema.equals(SCHEMA)
    stats = trades_table.stats()
    assert (stats.rows, stats.files, stats.sequence, stats.last_commit_time) == (0, 0, 0, None)
    [info] = warehouse.list_tables()
    assert (info.name, info.rows) == ("bronze.trades", 0)
    assert info.iceberg_metadata_location.endswith(".metadata.json")
    assert Path(info.delta_location, "_delta_log").is_dir()


def test_commit_results_and_stats_come_from_metadata(trades_table: LakeTable) -> None:
    first = trades_table.commit(trades(0, 0, 40), {0: 40}, {"lakeforge.max_event_time": "a"})
    assert first is not None and (first.rows, first.sequence, first.delta_version) == (40, 1, 1)
    assert first.files[0].startswith("data/") and first.iceberg_snapshot_id is not None
    trades_table.commit(trades(0, 40, 2), {0: 42}, {"lakeforge.max_event_time": "b"})
    stats = trades_table.stats()
    assert (stats.rows, stats.files, stats.sequence) == (42, 2, 2)
    assert trades_table.delta_rows() == 42
    assert stats.last_properties == {"lakeforge.max_event_time": "b"}
    assert stats.last_commit_time is not None
    history = DeltaTable(trades_table.delta_location).history(1)[0]
    assert json.loads(history["lakeforge.positions"]) == {"0": 42}
    assert history["lakeforge.max_event_time"] == "b"


def test_reserved_or_plain_property_names_are_refused(trades_table: LakeTable) -> None:
    for key in ("lakeforge.positions", "operation", "total-records"):
        with pytest.raises(ConfigError, match="commit property"):
            trades_table.commit(trades(0, 0, 1), {0: 1}, {key: "x"})


def test_unknown_tables_are_named(warehouse: Warehouse, trades_table: LakeTable) -> None:
    with pytest.raises(NotFoundError, match=r"existing tables: bronze\.trades"):
        warehouse.open_table("silver.trades")
    with pytest.raises(ConfigError, match=r"namespace\.table"):
        warehouse.open_table("trades")
