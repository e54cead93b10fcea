"""Rows that do not fit the table are refused by name, and nothing is committed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest

from lakeforge.errors import LakeforgeError, SchemaError
from lakeforge.lake import LakeTable, PositionsError, Warehouse
from tests.lake.tables import SCHEMA, trades


def _drop(name: str) -> Callable[[pa.Table], pa.Table]:
    return lambda rows: rows.drop_columns([name])


def _retype(name: str, arrow_type: pa.DataType) -> Callable[[pa.Table], pa.Table]:
    def change(rows: pa.Table) -> pa.Table:
        index = rows.schema.get_field_index(name)
        return rows.set_column(index, name, rows[name].cast(arrow_type))

    return change


def _null_offset(rows: pa.Table) -> pa.Table:
    offsets = pa.array([None, *rows["_offset"].to_pylist()[1:]], pa.int64())
    return rows.set_column(rows.schema.get_field_index("_offset"), "_offset", offsets)


def _extra(rows: pa.Table) -> pa.Table:
    return rows.append_column("venue", pa.array(["IEX"] * rows.num_rows))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_drop("_partition"), "no _partition column"),
        (_drop("_offset"), "no _offset column"),
        (_drop("price"), "lack the table's columns: price"),
        (_extra, "columns the table has not: venue"),
        (_retype("price", pa.string()), "column price is string in the rows, double in the table"),
        (_retype("size", pa.int64()), "column size is int64 in the rows"),
        (_retype("_partition", pa.int64()), "column _partition is int64"),
        (_null_offset, "column _offset is required but 1 rows have nulls"),
    ],
)
def test_malformed_rows_are_refused_by_column(
    trades_table: LakeTable, damage: Callable[[pa.Table], pa.Table], message: str
) -> None:
    trades_table.commit(trades(0, 0, 5), {0: 5})
    with pytest.raises(SchemaError, match=message) as raised:
        trades_table.commit(damage(trades(0, 5, 5)), {0: 10})
    assert isinstance(raised.value, LakeforgeError)
    _assert_untouched(trades_table)


def test_bad_positions_are_refused(trades_table: LakeTable) -> None:
    trades_table.commit(trades(0, 0, 5), {0: 5})
    for positions in ({-1: 5}, {0: -5}, {"0": 10}, {0: 10.0}):
        with pytest.raises(PositionsError, match="not a partition number mapped to an offset"):
            trades_table.commit(trades(0, 5, 5), positions)  # type: ignore[arg-type]
    _assert_untouched(trades_table)


def _assert_untouched(table: LakeTable) -> None:
    assert table.positions() == {0: 5}
    assert table.stats().sequence == 1
    assert table.read("iceberg").num_rows == table.read("delta").num_rows == 5
    data = Path(table.delta_location, "data")
    assert len(list(data.iterdir())) == 1  # no file was even written


def test_a_table_must_carry_source_positions(warehouse: Warehouse) -> None:
    with pytest.raises(SchemaError, match="no _offset column"):
        warehouse.table("bronze.plain", pa.schema([("_partition", pa.int32()), ("x", pa.int64())]))
    with pytest.raises(SchemaError, match="column _partition is int64, not int32"):
        warehouse.table(
            "bronze.plain", pa.schema([("_partition", pa.int64()), ("_offset", pa.int64())])
        )
    assert warehouse.list_tables() == []


def test_reopening_with_another_schema_names_the_difference(warehouse: Warehouse) -> None:
    warehouse.table("bronze.trades", SCHEMA)
    changed = SCHEMA.set(SCHEMA.get_field_index("price"), pa.field("price", pa.float32()))
    with pytest.raises(SchemaError, match="column price: the table has double, asked for float"):
        warehouse.table("bronze.trades", changed)
