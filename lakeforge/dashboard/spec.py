"""Dashboards as data: ``<pipeline>/dashboards/*.yaml``, validated into immutable objects.

A file describes one dashboard: its title, the lake tables it reads (datasets) and its
charts. lakeforge knows nothing of any particular pipeline; each pipeline brings its
dashboards. See ``examples/stocks/dashboards/stock_market.yaml``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from lakeforge.errors import ConfigError
from lakeforge.spec.load import describe_validation_error, read_yaml
from lakeforge.spec.model import parse_duration_ms

DASHBOARDS_FOLDER = "dashboards"
TimeGrain = Literal["second", "minute", "5 minutes", "15 minutes", "hour", "day", "week", "month"]
#: Superset's names for time grains, by the names a person would use.
TIME_GRAINS: dict[TimeGrain, str] = {
    "second": "PT1S",
    "minute": "PT1M",
    "5 minutes": "PT5M",
    "15 minutes": "PT15M",
    "hour": "PT1H",
    "day": "P1D",
    "week": "P1W",
    "month": "P1M",
}
_TABLE = r"^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$"
_COLUMN = Annotated[str, Field(min_length=1)]


def _metric(value: object) -> object:
    # A bare SQL expression is its own label: "SUM(volume)".
    return {"sql": value, "label": value} if isinstance(value, str) else value


def _seconds(value: object) -> int:
    return parse_duration_ms(value) // 1000


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Metric(_Spec):
    """An aggregate as SQL, with the label the chart shows."""

    sql: str = Field(min_length=1)
    label: str = Field(min_length=1)


class Dataset(_Spec):
    """A lake table charts read, e.g. ``gold.gold_bars_1m``."""

    table: str = Field(pattern=_TABLE)
    description: str = ""


class Chart(_Spec):
    """One chart of a dashboard.

    ``line`` and ``bar`` plot ``metrics`` over ``x`` (a time column, bucketed by
    ``time_grain``, or any column), one series per value of ``groupby``. ``table`` lists
    ``columns`` (raw rows) or ``groupby`` with ``metrics`` (aggregated).
    """

    title: str = Field(min_length=1, max_length=250)
    dataset: str
    kind: Literal["line", "bar", "table"]
    x: _COLUMN | None = None
    time_grain: TimeGrain | None = None
    metrics: tuple[Annotated[Metric, BeforeValidator(_metric)], ...] = ()
    groupby: tuple[_COLUMN, ...] = ()
    columns: tuple[_COLUMN, ...] = ()
    #: SQL conditions a row must meet (all of them).
    filters: tuple[Annotated[str, Field(min_length=1)], ...] = ()
    #: Columns or metric labels to sort by; ``-name`` sorts descending.
    order_by: tuple[_COLUMN, ...] = ()
    #: Line and bar: show only this many series, those largest by ``series_by``.
    series_limit: int | None = Field(default=None, ge=1)
    series_by: Annotated[Metric, BeforeValidator(_metric)] | None = None
    row_limit: int = Field(default=10_000, ge=1, le=100_000)
    #: Superset's time range, e.g. "Last day"; the default shows everything.
    time_range: str = "No filter"
    #: Width in the dashboard's 12-column grid, and height in grid rows (8 px each).
    width: int = Field(default=6, ge=1, le=12)
    height: int = Field(default=50, ge=10, le=200)
    #: Superset chart settings passed as they are (e.g. ``markerEnabled: true``).
    options: dict[str, object] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _fits_kind(self) -> Chart:
        if self.kind in ("line", "bar"):
            if not self.x:
                raise ValueError(f"a {self.kind} chart needs x: the column of its x axis")
            if not self.metrics:
                raise ValueError(f"a {self.kind} chart needs metrics: what it plots")
            if self.columns:
                raise ValueError(f"columns is for tables; a {self.kind} chart uses groupby")
        else:
            if self.columns and (self.metrics or self.groupby):
                raise ValueError("a table has columns (raw rows) or groupby with metrics")
            if not self.columns and not self.metrics:
                raise ValueError("a table needs columns, or metrics (with groupby)")
            if self.x or self.time_grain or self.series_limit:
                raise ValueError("x, time_grain and series_limit are for line and bar charts")
        return self


class Dashboard(_Spec):
    """A dashboard: its title, its datasets by name, and its charts in display order."""

    title: str = Field(min_length=1, max_length=500)
    #: The dashboard's address: /superset/dashboard/<slug>/. Default: from the title.
    slug: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]{0,254}$")
    #: How often an open dashboard reloads its charts (0: never).
    refresh: Annotated[int, BeforeValidator(_seconds), Field(ge=0)] = 0
    datasets: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")], Dataset] = Field(
        min_length=1
    )
    charts: tuple[Chart, ...] = Field(min_length=1)
    #: The file it was read from (for messages).
    path: Path = Field(default=Path("dashboard.yaml"), exclude=True)

    @property
    def address(self) -> str:
        """The slug: given, or made from the title."""
        return self.slug or re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-")

    @model_validator(mode="after")
    def _references(self) -> Dashboard:
        titles = [chart.title for chart in self.charts]
        if twice := sorted({title for title in titles if titles.count(title) > 1}):
            raise ValueError(f"chart titles must differ; repeated: {', '.join(twice)}")
        for index, chart in enumerate(self.charts):
            if chart.dataset not in self.datasets:
                known = ", ".join(sorted(self.datasets))
                raise ValueError(
                    f"charts[{index}] ({chart.title!r}): dataset {chart.dataset!r} is not "
                    f"one of the datasets of this file ({known})"
                )
        return self

    @property
    def tables(self) -> list[str]:
        """The lake tables this dashboard reads."""
        return sorted({dataset.table for dataset in self.datasets.values()})


def load_dashboard(path: Path) -> Dashboard:
    """Read and validate one dashboard file; errors name the file and the field."""
    data = read_yaml(path)
    try:
        return Dashboard.model_validate({**data, "path": path})
    except ValidationError as exc:
        count = exc.error_count()
        raise ConfigError(
            f"{path}: {count} problem{'s' if count > 1 else ''}:\n  "
            + describe_validation_error(exc, path, {}),
            "see examples/stocks/dashboards/stock_market.yaml for a complete, valid dashboard",
        ) from None


def load_dashboards(pipeline_directory: Path) -> list[Dashboard]:
    """Every dashboard of a pipeline (``dashboards/*.yaml``), by file name."""
    folder = pipeline_directory / DASHBOARDS_FOLDER
    paths = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
    dashboards = [load_dashboard(path) for path in paths]
    seen: dict[str, Path] = {}
    for dashboard in dashboards:
        if dashboard.address in seen:
            raise ConfigError(
                f"{dashboard.path} and {seen[dashboard.address]} both make the dashboard "
                f"{dashboard.address!r}",
                "give one of them another title or slug",
            )
        seen[dashboard.address] = dashboard.path
    return dashboards
