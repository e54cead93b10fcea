"""A lake table gains nullable columns in both formats; any other change is refused."""

from __future__ import annotations

import threading
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from lakeforge.errors import SchemaError
from lakeforge.lake import Warehouse
from lakeforge.lake.evolve import evolve_delta
from lakeforge.serve.database import connect_lake
from tests.lake.tables import SCHEMA, errors_when_raced, in_order, trades

WITH_VENUE = SCHEMA.insert(4, pa.field("venue", pa.string()))


def with_venue(rows: pa.Table, venue: str) -> pa.Table:
    return rows.add_column(4, "venue", pa.array([venue] * rows.num_rows, pa.string()))


def test_a_new_nullable_column_lands_in_both_formats(warehouse: Warehouse) -> None:
    before = warehouse.table("bronze.trades", SCHEMA)
    before.commit(trades(0, 0, 10), {0: 10})
    after = warehouse.table("bronze.trades", WITH_VENUE)
    assert "venue" in after.schema.names
    after.commit(with_venue(trades(0, 10, 5), "XNAS"), {0: 15})
    for fmt in ("iceberg", "delta"):
        rows = in_order(after.read(fmt))
        assert rows.num_rows == 15
        assert rows["venue"].to_pylist() == [None] * 10 + ["XNAS"] * 5, fmt
    assert in_order(after.read("iceberg")).equals(in_order(after.read("delta")))
    # A writer that opened the table before the change still commits (its rows: null).
    before.commit(trades(0, 15, 5), {0: 20})
    assert in_order(after.read("delta"))["venue"].to_pylist()[15:] == [None] * 5
    # DuckDB's views over both formats (what dbt's sources read) see the column too.
    connection = connect_lake(warehouse)
    for view in ("bronze.trades", "bronze_delta.trades"):
        count = connection.sql(f"SELECT count(venue), count(*) FROM {view}").fetchone()
        assert count == (5, 20), view


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        (SCHEMA.set(3, pa.field("price", pa.string())), "column price"),
        (SCHEMA.remove(2), "column symbol is missing"),
        (SCHEMA.append(pa.field("venue", pa.string(), nullable=False)), "venue is new but not"),
    ],
)
def test_other_changes_are_refused_and_change_nothing(
    warehouse: Warehouse, schema: pa.Schema, expected: str
) -> None:
    table = warehouse.table("bronze.trades", SCHEMA)
    table.commit(trades(0, 0, 10), {0: 10})
    version = DeltaTable(table.delta_location).version()
    with pytest.raises(SchemaError, match=expected) as caught:
        warehouse.table("bronze.trades", schema)
    assert "table bronze.trades cannot take the new schema" in str(caught.value)
    assert DeltaTable(table.delta_location).version() == version
    assert warehouse.open_table("bronze.trades").schema.equals(table.schema)


def test_a_change_interrupted_between_the_formats_is_finished_on_open(
    warehouse: Warehouse,
) -> None:
    table = warehouse.table("bronze.trades", SCHEMA)
    table.commit(trades(0, 0, 10), {0: 10})
    evolve_delta(table.delta_location, WITH_VENUE)  # then the process died
    reopened = warehouse.open_table("bronze.trades")
    assert "venue" in reopened.schema.names
    assert in_order(reopened.read("iceberg")).equals(in_order(reopened.read("delta")))


def test_processes_adding_the_same_column_together_all_succeed(tmp_path: Path) -> None:
    """Runners adopting one schema file at once: each evolves, none fails, one column."""
    for attempt in range(3):
        root = tmp_path / f"lake{attempt}"
        with Warehouse(root) as warehouse:
            warehouse.table("bronze.trades", SCHEMA).commit(trades(0, 0, 10), {0: 10})

        def evolve(ready: threading.Barrier, root: Path = root) -> None:
            with Warehouse(root) as warehouse:
                ready.wait()
                warehouse.table("bronze.trades", WITH_VENUE)

        errors = errors_when_raced(4, evolve)
        assert not errors, errors
        with Warehouse(root) as warehouse:
            table = warehouse.open_table("bronze.trades")
            assert table.schema.names.count("venue") == 1
            for format in ("iceberg", "delta"):
                assert table.read(format).column("venue").null_count == 10
