"""A chart of a dashboard file as Superset saves it: its form data and its query context.

Superset keeps two descriptions of a chart: ``params`` (the form the Explore view and
the dashboard render from) and ``query_context`` (what ``/api/v1/chart/<id>/data/``
runs). Both are built here from the same :class:`~lakeforge.dashboard.spec.Chart`.
Which Superset visualisation draws a kind of chart is this module's only Superset
detail: line and bar are ECharts time-series charts, table is Superset's table.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lakeforge.dashboard.spec import TIME_GRAINS, Chart, Dashboard, Metric
from lakeforge.errors import ConfigError

VIZ_TYPES = {"line": "echarts_timeseries_line", "bar": "echarts_timeseries_bar", "table": "table"}
#: How a time axis labels its ticks, by time grain. Superset's "smart_date" draws no
#: labels at all on an axis of a few minutes (Superset 6.1), so the format is explicit.
TIME_FORMATS = {
    "PT1S": "%H:%M:%S",
    "PT1M": "%H:%M",
    "PT5M": "%H:%M",
    "PT15M": "%H:%M",
    "PT1H": "%b %d %H:%M",
    "P1D": "%Y-%m-%d",
    "P1W": "%Y-%m-%d",
    "P1M": "%Y-%m",
}


@dataclass(frozen=True)
class DatasetColumns:
    """A dataset as Superset sees it: its id and its columns, temporal or not."""

    id: int
    table: str
    #: Column name -> whether Superset treats it as a time column.
    temporal: Mapping[str, bool]


@dataclass(frozen=True)
class SupersetChart:
    """What the chart API stores for one chart."""

    viz_type: str
    params: dict[str, Any]
    query_context: dict[str, Any]


def _option_name(prefix: str, text: str) -> str:
    # Stable names keep the saved chart identical from one provisioning to the next.
    return f"{prefix}_{hashlib.sha1(text.encode()).hexdigest()[:12]}"


def adhoc_metric(metric: Metric) -> dict[str, Any]:
    """A metric in Superset's ad-hoc form (a SQL aggregate with a label)."""
    return {
        "expressionType": "SQL",
        "sqlExpression": metric.sql,
        "label": metric.label,
        "hasCustomLabel": True,
        "optionName": _option_name("metric", metric.sql + metric.label),
    }


def _sql_filter(sql: str) -> dict[str, Any]:
    return {
        "clause": "WHERE",
        "expressionType": "SQL",
        "sqlExpression": sql,
        "filterOptionName": _option_name("filter", sql),
    }


def _check_columns(chart: Chart, dashboard: Dashboard, dataset: DatasetColumns) -> None:
    named = [chart.x] if chart.x else []
    named += [*chart.groupby, *chart.columns]
    labels = {metric.label for metric in chart.metrics}
    named += [name.lstrip("-") for name in chart.order_by if name.lstrip("-") not in labels]
    unknown = [name for name in named if name not in dataset.temporal]
    if unknown:
        raise ConfigError(
            f"{dashboard.path}: chart {chart.title!r}: {', '.join(map(repr, unknown))} "
            f"{'is not a column' if len(unknown) == 1 else 'are not columns'} of "
            f"{dataset.table} (its columns: {', '.join(dataset.temporal)})",
            "use the lake table's column names (see 'lakeforge tables')",
        )


def _sort_keys(chart: Chart) -> list[tuple[str | dict[str, Any], bool]]:
    """``order_by`` as Superset's ``[column or metric, ascending]`` pairs."""
    metrics = {metric.label: adhoc_metric(metric) for metric in chart.metrics}
    keys: list[tuple[str | dict[str, Any], bool]] = []
    for name in chart.order_by:
        bare = name.lstrip("-")
        keys.append((metrics.get(bare, bare), not name.startswith("-")))
    return keys


def build_chart(chart: Chart, dashboard: Dashboard, dataset: DatasetColumns) -> SupersetChart:
    """The form data and query context of ``chart``, reading ``dataset``."""
    _check_columns(chart, dashboard, dataset)
    filters = [_sql_filter(sql) for sql in chart.filters]
    params: dict[str, Any] = {
        "datasource": f"{dataset.id}__table",
        "viz_type": VIZ_TYPES[chart.kind],
        "row_limit": chart.row_limit,
    }
    query: dict[str, Any] = {
        "filters": [],
        "extras": {"having": "", "where": " AND ".join(f"({sql})" for sql in chart.filters)},
        "applied_time_extras": {},
        "row_limit": chart.row_limit,
        "annotation_layers": [],
        "url_params": {},
        "custom_params": {},
        "custom_form_data": {},
    }
    if chart.kind == "table":
        _table(chart, params, query)
    else:
        _series(chart, dataset, params, query)
    params["adhoc_filters"] = filters + params.get("adhoc_filters", [])
    params.update(chart.options)
    query_context = {
        "datasource": {"id": dataset.id, "type": "table"},
        "force": False,
        "queries": [query],
        "form_data": params,
        "result_format": "json",
        "result_type": "full",
    }
    return SupersetChart(VIZ_TYPES[chart.kind], params, query_context)


def _series(
    chart: Chart,
    dataset: DatasetColumns,
    params: dict[str, Any],
    query: dict[str, Any],
) -> None:
    """Line and bar: metrics over the x axis, a series per ``groupby`` value."""
    assert chart.x is not None  # the spec requires it for these kinds
    metrics = [adhoc_metric(metric) for metric in chart.metrics]
    temporal = dataset.temporal[chart.x]
    grain = TIME_GRAINS[chart.time_grain] if chart.time_grain and temporal else None
    axis: dict[str, Any] = {
        "columnType": "BASE_AXIS",
        "sqlExpression": chart.x,
        "label": chart.x,
        "expressionType": "SQL",
    }
    if grain:
        axis["timeGrain"] = grain
    params.update(
        {
            "x_axis": chart.x,
            "metrics": metrics,
            "groupby": list(chart.groupby),
            "order_desc": True,
            "rich_tooltip": True,
            "show_legend": True,
            "legendType": "scroll",
            "truncate_metric": True,
            "y_axis_format": "SMART_NUMBER",
        }
    )
    query.update({"columns": [axis, *chart.groupby], "metrics": metrics, "order_desc": True})
    if grain:
        params["time_grain_sqla"] = grain
        query["extras"]["time_grain_sqla"] = grain
    if temporal:
        params["x_axis_time_format"] = TIME_FORMATS.get(grain or "", "smart_date")
        params["adhoc_filters"] = [
            {
                "clause": "WHERE",
                "expressionType": "SIMPLE",
                "subject": chart.x,
                "operator": "TEMPORAL_RANGE",
                "comparator": chart.time_range,
            }
        ]
        query["filters"] = [{"col": chart.x, "op": "TEMPORAL_RANGE", "val": chart.time_range}]
    if chart.groupby:
        query["series_columns"] = list(chart.groupby)
    if chart.series_limit:
        ranking = adhoc_metric(chart.series_by) if chart.series_by else metrics[0]
        params.update({"limit": chart.series_limit, "timeseries_limit_metric": ranking})
        query.update({"series_limit": chart.series_limit, "series_limit_metric": ranking})
        query["orderby"] = [[ranking, False]]
    sort = _sort_keys(chart)
    if sort:
        key, ascending = sort[0]
        params["x_axis_sort"] = key["label"] if isinstance(key, dict) else key
        params["x_axis_sort_asc"] = ascending
        query["orderby"] = [[key, ascending] for key, ascending in sort]
    elif not chart.series_limit:
        query["orderby"] = [[metrics[0], False]]


def _table(chart: Chart, params: dict[str, Any], query: dict[str, Any]) -> None:
    """Table: raw ``columns``, or ``groupby`` aggregated by ``metrics``."""
    sort = _sort_keys(chart)
    if chart.columns:
        params.update(
            {
                "query_mode": "raw",
                "all_columns": list(chart.columns),
                "order_by_cols": [json.dumps([key, ascending]) for key, ascending in sort],
            }
        )
        query.update({"columns": list(chart.columns), "metrics": []})
    else:
        metrics = [adhoc_metric(metric) for metric in chart.metrics]
        params.update(
            {"query_mode": "aggregate", "groupby": list(chart.groupby), "metrics": metrics}
        )
        if sort and isinstance(sort[0][0], dict):  # the table's own sort takes a metric
            key, ascending = sort[0]
            params.update({"timeseries_limit_metric": key, "order_desc": not ascending})
        query.update({"columns": list(chart.groupby), "metrics": metrics})
    query["orderby"] = [[key, ascending] for key, ascending in sort]
    params.update(
        {
            "server_pagination": False,
            "include_search": False,
            "table_timestamp_format": "smart_date",
        }
    )
