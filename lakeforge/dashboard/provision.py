"""Make Superset hold what the dashboard files describe, through its REST API.

Everything is created or updated by name, so provisioning twice changes nothing the
second time: the lake database by its name, a dataset by its table, a dashboard by its
slug, a chart by a UUID made from its dashboard's slug and its title. A dashboard whose
tables are not in the lake yet waits (it is reported, not an error) and is provisioned
by a later call, once ``lakeforge transform`` has built them.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from lakeforge.dashboard.api import SupersetApiError, SupersetClient
from lakeforge.dashboard.charts import DatasetColumns, build_chart
from lakeforge.dashboard.lake import LakeDatabase, prepare_lake
from lakeforge.dashboard.layout import PlacedChart, json_metadata, position_json
from lakeforge.dashboard.server import SupersetServer
from lakeforge.dashboard.spec import Dashboard, Dataset, load_dashboards
from lakeforge.errors import ConfigError

#: Chart UUIDs are derived in this namespace from "<pipeline>/<dashboard slug>/<title>".
CHART_NAMESPACE = uuid.UUID("0f3e2a4c-7b1d-5e6f-8a9b-c0d1e2f3a4b5")


@dataclass
class ProvisionedDashboard:
    """A dashboard as provisioned: where it is and its charts' ids."""

    title: str
    id: int
    url: str
    charts: dict[str, int]


@dataclass
class ProvisionReport:
    """What one provisioning did."""

    database_id: int
    dashboards: list[ProvisionedDashboard] = field(default_factory=list)
    #: Dashboard title -> the lake tables it waits for.
    waiting: dict[str, list[str]] = field(default_factory=dict)


def provision(server: SupersetServer, dashboards: list[Dashboard] | None = None) -> ProvisionReport:
    """Provision the pipeline's dashboards (``dashboards/*.yaml``) into ``server``."""
    pipeline = server.pipeline
    if dashboards is None:
        dashboards = load_dashboards(pipeline.directory)
    database, tables = prepare_lake(pipeline, server.home)
    with SupersetClient(server.url) as client:
        client.login(server.service_user, server.service_password.get_secret_value())
        report = ProvisionReport(_database(client, database))
        for dashboard in dashboards:
            missing = [table for table in dashboard.tables if table not in tables]
            if missing:
                report.waiting[dashboard.title] = missing
                continue
            done = _dashboard(client, pipeline.name, report.database_id, dashboard)
            report.dashboards.append(done)
    return report


def _database(client: SupersetClient, database: LakeDatabase) -> int:
    body = {
        "database_name": database.name,
        "sqlalchemy_uri": database.sqlalchemy_uri,
        "expose_in_sqllab": True,
        "allow_run_async": False,
        "allow_dml": False,
        "extra": json.dumps(database.extra),
    }
    found = client.find("database", database_name=database.name)
    if found:
        client.update("database", found[0]["id"], body)
        return int(found[0]["id"])
    return client.create("database", body)


def _dataset(client: SupersetClient, database_id: int, spec: Dataset) -> DatasetColumns:
    schema, name = spec.table.split(".", 1)
    found = [
        item
        for item in client.find("dataset", table_name=name, schema=schema)
        if item["database"]["id"] == database_id
    ]
    if found:
        dataset_id = int(found[0]["id"])
        # The lake table's columns may have changed since the dataset was made.
        client.request("PUT", f"/api/v1/dataset/{dataset_id}/refresh")
    else:
        body = {"database": database_id, "schema": schema, "table_name": name}
        dataset_id = client.create("dataset", body)
    if spec.description:
        client.update("dataset", dataset_id, {"description": spec.description})
    details = client.get("dataset", dataset_id) or {}
    columns = {c["column_name"]: bool(c["is_dttm"]) for c in details.get("columns", [])}
    return DatasetColumns(dataset_id, spec.table, columns)


def _dashboard(
    client: SupersetClient, pipeline_name: str, database_id: int, dashboard: Dashboard
) -> ProvisionedDashboard:
    datasets = {
        name: _dataset(client, database_id, spec) for name, spec in dashboard.datasets.items()
    }
    slug = dashboard.address
    existing = client.get("dashboard", slug)
    body: dict[str, Any] = {"dashboard_title": dashboard.title, "slug": slug, "published": True}
    dashboard_id = int(existing["id"]) if existing else client.create("dashboard", body)
    placed = []
    for chart in dashboard.charts:
        chart_uuid = str(uuid.uuid5(CHART_NAMESPACE, f"{pipeline_name}/{slug}/{chart.title}"))
        built = build_chart(chart, dashboard, datasets[chart.dataset])
        chart_body = {
            "slice_name": chart.title,
            "viz_type": built.viz_type,
            "datasource_id": datasets[chart.dataset].id,
            "datasource_type": "table",
            "params": json.dumps(built.params),
            "query_context": json.dumps(built.query_context),
            "dashboards": [dashboard_id],
        }
        found = client.find("chart", uuid=chart_uuid)
        if found:
            chart_id = int(found[0]["id"])
            client.update("chart", chart_id, chart_body)
        else:
            chart_id = client.create("chart", {**chart_body, "uuid": chart_uuid})
        placed.append(PlacedChart(chart_id, chart_uuid, chart.title, chart.width, chart.height))
    _unlink_others(client, dashboard_id, {chart.id for chart in placed})
    body["position_json"] = json.dumps(position_json(dashboard, placed))
    body["json_metadata"] = json.dumps(json_metadata(dashboard))
    client.update("dashboard", dashboard_id, body)
    _check_charts(client, dashboard, placed)
    return ProvisionedDashboard(
        dashboard.title,
        dashboard_id,
        f"{client.url}/superset/dashboard/{slug}/",
        {chart.title: chart.id for chart in placed},
    )


def _unlink_others(client: SupersetClient, dashboard_id: int, keep: set[int]) -> None:
    """Take charts no longer in the file off the dashboard (the charts themselves stay)."""
    details = client.request("GET", f"/api/v1/dashboard/{dashboard_id}/charts")
    for chart in details["result"]:
        if chart["id"] in keep:
            continue
        linked = client.get("chart", chart["id"]) or {}
        others = [d["id"] for d in linked.get("dashboards", []) if d["id"] != dashboard_id]
        client.update("chart", chart["id"], {"dashboards": others})


def _check_charts(client: SupersetClient, dashboard: Dashboard, charts: list[PlacedChart]) -> None:
    """Run each chart's query once, so a wrong metric or filter fails here, not on screen."""
    for chart in charts:
        try:
            client.request("GET", f"/api/v1/chart/{chart.id}/data/")
        except SupersetApiError as error:
            raise ConfigError(
                f"{dashboard.path}: chart {chart.title!r} fails in Superset: {error.what}",
                "check the chart's metrics, filters and columns against its lake table",
            ) from None


def chart_rows(client: SupersetClient, chart_id: int) -> int:
    """How many rows a chart's saved query returns now."""
    answer = client.request("GET", f"/api/v1/chart/{chart_id}/data/")
    return sum(int(result.get("rowcount", 0)) for result in answer["result"])
