"""The parts that need no Superset: dashboard files, layout, charts, Rison, the pins."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from lakeforge.dashboard.api import rison
from lakeforge.dashboard.charts import DatasetColumns, build_chart
from lakeforge.dashboard.environment import (
    check_duckdb_pin,
    default_venv_path,
    pinned,
    requirements_text,
)
from lakeforge.dashboard.layout import GRID_COLUMNS, PlacedChart, position_json, rows_of
from lakeforge.dashboard.spec import Dashboard, load_dashboards
from lakeforge.errors import ConfigError
from tests.conftest import STOCKS

BARS = DatasetColumns(
    7,
    "gold.gold_bars_1m",
    {"symbol": False, "bar_minute": True, "close": False, "volume": False},
)


def _stock_market() -> Dashboard:
    [dashboard] = load_dashboards(STOCKS)
    return dashboard


def test_the_example_dashboard_reads_the_three_gold_tables() -> None:
    dashboard = _stock_market()
    assert dashboard.title == "Stock market"
    assert dashboard.address == "stock-market"
    assert dashboard.refresh == 30
    assert dashboard.tables == [
        "gold.gold_bars_1m",
        "gold.gold_daily_summary",
        "gold.gold_top_movers",
    ]


def test_a_pipeline_without_dashboards_has_none(tmp_path: Path) -> None:
    assert load_dashboards(tmp_path) == []


def test_two_files_for_one_dashboard_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "dashboards"
    folder.mkdir()
    text = (STOCKS / "dashboards" / "stock_market.yaml").read_text()
    (folder / "a.yaml").write_text(text)
    (folder / "b.yaml").write_text(text)
    with pytest.raises(ConfigError, match="both make the dashboard 'stock-market'"):
        load_dashboards(tmp_path)


def test_charts_flow_into_rows_of_twelve_columns() -> None:
    charts = [
        PlacedChart(n, f"u{n}", f"c{n}", width, 50) for n, width in enumerate([12, 6, 6, 8, 6])
    ]
    assert [[c.id for c in row] for row in rows_of(charts)] == [[0], [1, 2], [3], [4]]
    layout = position_json(_stock_market(), charts)
    assert layout["GRID_ID"]["children"] == ["ROW-1", "ROW-2", "ROW-3", "ROW-4"]
    assert layout["CHART-3"]["meta"]["width"] == 8 <= GRID_COLUMNS
    assert layout["CHART-1"]["parents"] == ["ROOT_ID", "GRID_ID", "ROW-2"]


def test_a_line_chart_buckets_time_and_limits_series() -> None:
    dashboard = _stock_market()
    chart = dashboard.charts[0]
    built = build_chart(chart, dashboard, BARS)
    assert built.viz_type == "echarts_timeseries_line"
    query = built.query_context["queries"][0]
    assert query["columns"][0]["timeGrain"] == "PT1M"
    assert query["series_limit"] == 5
    assert query["series_limit_metric"]["sqlExpression"] == "SUM(volume)"
    assert built.params["markerEnabled"] is True  # from the file's options
    assert built.params["datasource"] == "7__table"


def test_a_chart_naming_a_missing_column_is_refused() -> None:
    dashboard = _stock_market()
    columns = DatasetColumns(7, "gold.gold_bars_1m", {"bar_minute": True})
    with pytest.raises(ConfigError, match=r"'symbol' is not a column of gold\.gold_bars_1m"):
        build_chart(dashboard.charts[0], dashboard, columns)


def test_rison_quotes_and_escapes() -> None:
    query = {"filters": [{"col": "slice_name", "opr": "eq", "value": "it's!"}], "page": 0}
    assert rison(query) == "(filters:!((col:'slice_name',opr:'eq',value:'it!'s!!')),page:0)"
    assert rison([True, False, None]) == "!(!t,!f,!n)"


def test_superset_gets_lakeforges_duckdb() -> None:
    pins = pinned(requirements_text())
    assert pins["duckdb"] == duckdb.__version__
    assert pins["apache-superset"].startswith("6.")
    check_duckdb_pin(requirements_text())
    with pytest.raises(ConfigError, match=r"pins duckdb 0\.9\.0"):
        check_duckdb_pin("duckdb==0.9.0\n")


def test_the_environment_path_follows_the_pins() -> None:
    assert default_venv_path("a==1\n") != default_venv_path("a==2\n")
    assert default_venv_path("a==1\n").name.startswith("superset-")
