"""Where each chart sits on a dashboard: Superset's ``position_json`` and ``json_metadata``.

Charts flow left to right in file order, in rows of Superset's 12-column grid: a chart
that does not fit in what is left of a row starts the next one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lakeforge.dashboard.spec import Dashboard

GRID_COLUMNS = 12


@dataclass(frozen=True)
class PlacedChart:
    """A chart saved in Superset, with the size its dashboard file gives it."""

    id: int
    uuid: str
    title: str
    width: int
    height: int


def rows_of(charts: Sequence[PlacedChart]) -> list[list[PlacedChart]]:
    """Charts grouped into rows no wider than the grid."""
    rows: list[list[PlacedChart]] = []
    used = GRID_COLUMNS
    for chart in charts:
        if used + chart.width > GRID_COLUMNS:
            rows.append([])
            used = 0
        rows[-1].append(chart)
        used += chart.width
    return rows


def position_json(dashboard: Dashboard, charts: Sequence[PlacedChart]) -> dict[str, Any]:
    """The layout tree Superset draws the dashboard from."""
    layout: dict[str, Any] = {
        "DASHBOARD_VERSION_KEY": "v2",
        "ROOT_ID": {"type": "ROOT", "id": "ROOT_ID", "children": ["GRID_ID"]},
        "HEADER_ID": {"type": "HEADER", "id": "HEADER_ID", "meta": {"text": dashboard.title}},
        "GRID_ID": {"type": "GRID", "id": "GRID_ID", "children": [], "parents": ["ROOT_ID"]},
    }
    for number, row in enumerate(rows_of(charts), start=1):
        row_id = f"ROW-{number}"
        layout["GRID_ID"]["children"].append(row_id)
        layout[row_id] = {
            "type": "ROW",
            "id": row_id,
            "children": [],
            "parents": ["ROOT_ID", "GRID_ID"],
            "meta": {"background": "BACKGROUND_TRANSPARENT"},
        }
        for chart in row:
            chart_id = f"CHART-{chart.id}"
            layout[row_id]["children"].append(chart_id)
            layout[chart_id] = {
                "type": "CHART",
                "id": chart_id,
                "children": [],
                "parents": ["ROOT_ID", "GRID_ID", row_id],
                "meta": {
                    "chartId": chart.id,
                    "uuid": chart.uuid,
                    "sliceName": chart.title,
                    "width": chart.width,
                    "height": chart.height,
                },
            }
    return layout


def json_metadata(dashboard: Dashboard) -> dict[str, Any]:
    """The dashboard's settings: its refresh interval, and no stale filters."""
    return {
        "refresh_frequency": dashboard.refresh,
        "timed_refresh_immune_slices": [],
        "expanded_slices": {},
        "color_scheme": "",
        "label_colors": {},
        "shared_label_colors": [],
        "cross_filters_enabled": True,
        "native_filter_configuration": [],
        "chart_configuration": {},
    }
