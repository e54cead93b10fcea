"""Every supported column type round-trips through both formats, nulls and edge values too."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from lakeforge.errors import SchemaError
from lakeforge.lake import Warehouse
from tests.lake.tables import in_order

EVERY_TYPE = pa.schema(
    [
        pa.field("_partition", pa.int32(), nullable=False),
        pa.field("_offset", pa.int64(), nullable=False),
        ("flag", pa.bool_()),
        ("small", pa.int32()),
        ("big", pa.int64()),
        ("ratio", pa.float32()),
        ("price", pa.float64()),
        ("text", pa.string()),
        ("raw", pa.binary()),
        ("day", pa.date32()),
        ("at", pa.timestamp("us", tz="UTC")),
        ("local", pa.timestamp("us")),
        ("tags", pa.list_(pa.string())),
        ("quote", pa.struct([("bid", pa.float64()), ("venue", pa.string())])),
    ]
)


def _rows() -> pa.Table:
    return pa.table(
        {
            "_partition": pa.array([0, 0, 0, 1], pa.int32()),
            "_offset": pa.array([0, 1, 2, 0], pa.int64()),
            "flag": [True, None, False, True],
            "small": pa.array([-(2**31), None, 2**31 - 1, 0], pa.int32()),
            "big": [-(2**63), None, 2**63 - 1, 0],
            "ratio": pa.array([1.5, None, float("nan"), -0.0], pa.float32()),
            "price": [float("inf"), None, 1e-300, float("-inf")],
            "text": ["Zürich 東京 🚀", None, "", "x" * 100],
            "raw": [b"\x00\xff", None, b"", b"abc"],
            "day": [date(1, 1, 1), None, date(1969, 12, 31), date(9999, 12, 31)],
            "at": [
                datetime(1900, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
                None,
                datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
                datetime(2038, 1, 19, 3, 14, 8, 123456, tzinfo=UTC),
            ],
            "local": [
                datetime(1, 1, 1),
                None,
                datetime(1969, 7, 20, 20, 17),
                datetime(2262, 4, 12),
            ],
            "tags": [["a", None, "ü"], None, [], ["only"]],
            "quote": [{"bid": 1.0, "venue": "IEX"}, None, {"bid": None, "venue": None}, None],
        },
        schema=EVERY_TYPE,
    )


def test_every_type_round_trips(warehouse: Warehouse) -> None:
    table = warehouse.table("bronze.every_type", EVERY_TYPE)
    rows = _rows()
    table.commit(rows, {0: 3, 1: 1})
    expected = in_order(rows)
    for format in ("iceberg", "delta"):
        read = in_order(table.read(format))
        assert read.schema.equals(EVERY_TYPE), format
        assert _without_nan(read).to_pylist() == _without_nan(expected).to_pylist(), format


def test_delta_statistics_are_safe_bounds(warehouse: Warehouse) -> None:
    table = warehouse.table("bronze.every_type", EVERY_TYPE)
    table.commit(_rows(), {0: 3, 1: 1})
    commit = Path(table.delta_location, "_delta_log", "00000000000000000001.json").read_text()
    [stats] = [json.loads(line)["add"]["stats"] for line in commit.splitlines() if '"add"' in line]
    parsed = json.loads(stats)
    low, high = parsed["minValues"], parsed["maxValues"]
    assert parsed["numRecords"] == 4 and parsed["nullCount"]["text"] == 1
    # milliseconds, the minimum rounded down and the maximum up
    assert (low["at"], high["at"]) == ("1900-01-01T00:00:00.000Z", "2038-01-19T03:14:08.124Z")
    assert (low["day"], high["day"]) == ("0001-01-01", "9999-12-31")
    assert "ratio" not in low and "price" not in high  # NaN and infinity: no bounds at all
    assert low["text"] == "" and "text" not in high  # a 100-character maximum is left out
    assert "tags" not in parsed["nullCount"]  # nested columns get no statistics
    assert "local" not in low  # no bounds for timestamps without time zone


def _without_nan(table: pa.Table) -> pa.Table:
    """NaN replaced by a sentinel: NaN != NaN would fail any comparison."""
    ratio = table["ratio"]
    sentinel = pa.scalar(-123.0, pa.float32())
    fixed = pc.if_else(pc.fill_null(pc.is_nan(ratio), False), sentinel, ratio)
    return table.set_column(table.schema.get_field_index("ratio"), "ratio", fixed)


def test_input_in_equivalent_types_is_accepted(warehouse: Warehouse) -> None:
    table = warehouse.table("bronze.every_type", EVERY_TYPE)
    rows = _rows()
    loose = rows.set_column(
        rows.schema.get_field_index("text"), "text", rows["text"].cast(pa.large_string())
    ).set_column(
        rows.schema.get_field_index("at"),
        "at",
        rows["at"].cast(pa.timestamp("ms", tz="UTC"), safe=False),
    )
    loose = loose.select(list(reversed(loose.column_names)))
    assert table.commit(loose, {0: 3, 1: 1}) is not None
    assert table.read("delta").schema.equals(EVERY_TYPE)


@pytest.mark.parametrize(
    ("arrow_type", "message"),
    [
        (pa.timestamp("ns", tz="UTC"), "timestamp"),
        (pa.timestamp("ms", tz="Europe/Paris"), "timestamp"),
        (pa.time64("us"), "time64"),
        (pa.uint32(), "uint32"),
        (pa.map_(pa.string(), pa.int64()), "map"),
    ],
)
def test_unsupported_types_are_refused_at_creation(
    warehouse: Warehouse, arrow_type: pa.DataType, message: str
) -> None:
    schema = EVERY_TYPE.append(pa.field("odd", arrow_type))
    with pytest.raises(SchemaError, match=f"column odd is .*{message}"):
        warehouse.table("bronze.odd", schema)
    assert warehouse.list_tables() == []
