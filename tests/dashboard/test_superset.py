"""The stocks dashboard in a real Superset: provisioned, idempotent, drawn, restartable."""

from __future__ import annotations

import os
import re
import stat
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pytest

from lakeforge.cli.common import load
from lakeforge.dashboard import SupersetServer, load_dashboards, provision
from lakeforge.dashboard.api import SupersetApiError, SupersetClient
from lakeforge.dashboard.provision import chart_rows
from lakeforge.dashboard.spec import load_dashboard
from lakeforge.errors import AlreadyRunningError, ConfigError
from lakeforge.lake import Warehouse
from tests.dashboard.browser import (
    browser_missing,
    chart_texts,
    log_in,
    open_browser,
    wait_for_charts,
)
from tests.dashboard.conftest import INSTALL_TIMEOUT_S, TRADES, Site
from tests.dashboard.lake import build_gold, make_bronze

pytestmark = pytest.mark.timeout(INSTALL_TIMEOUT_S)

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
STOCK_CHARTS = {
    "Price and VWAP per symbol",
    "Trades per minute",
    "Volume per minute",
    "Top movers",
    "Volume by symbol",
}


def _inventory(client: SupersetClient) -> dict[str, list[int]]:
    """The ids of every database, dataset, chart and dashboard Superset holds."""
    return {
        resource: sorted(int(item["id"]) for item in client.find(resource))
        for resource in ("database", "dataset", "chart", "dashboard")
    }


def test_every_chart_returns_rows(site: Site) -> None:
    [dashboard] = site.report.dashboards
    assert dashboard.title == "Stock market"
    assert set(dashboard.charts) == STOCK_CHARTS
    assert not site.report.waiting
    with site.admin() as client:
        for title, chart_id in dashboard.charts.items():
            assert chart_rows(client, chart_id) > 0, f"chart {title!r} returned no rows"
        charts = client.request("GET", f"/api/v1/dashboard/{dashboard.id}/charts")["result"]
        assert {chart["slice_name"] for chart in charts} == STOCK_CHARTS


def test_provisioning_twice_creates_nothing_new(site: Site) -> None:
    with site.admin() as client:
        before = _inventory(client)
        again = provision(site.server)
        after = _inventory(client)
    assert after == before
    assert again.dashboards[0].charts == site.report.dashboards[0].charts
    assert len(after["database"]) == 1


SENSORS = """
title: Greenhouse
datasets:
  readings: {table: gold.sensor_readings}
charts:
  - {title: Temperature, dataset: readings, kind: line, x: read_at, time_grain: hour,
     metrics: [AVG(celsius)], groupby: [sensor]}
  - {title: Hottest sensors, dataset: readings, kind: table, groupby: [sensor],
     metrics: [{label: hottest, sql: MAX(celsius)}], order_by: [-hottest]}
"""


def test_a_dashboard_of_another_kind_needs_no_core_change(site: Site, tmp_path: Path) -> None:
    hours = [datetime(2026, 1, 1, hour) for hour in range(6)]
    readings = pa.table(
        {
            "sensor": pa.array(["north", "south"] * 6),
            "read_at": pa.array(sorted(hours * 2), pa.timestamp("us")),
            "celsius": pa.array([20.0 + n / 4 for n in range(12)]),
        }
    )
    with Warehouse(site.pipeline / ".lakeforge" / "warehouse") as warehouse:
        warehouse.published_table("gold.sensor_readings").replace(readings, run=1)
    path = tmp_path / "greenhouse.yaml"
    path.write_text(SENSORS)
    [dashboard] = provision(site.server, [load_dashboard(path)]).dashboards
    assert dashboard.url.endswith("/superset/dashboard/greenhouse/")
    with site.admin() as client:
        assert chart_rows(client, dashboard.charts["Temperature"]) == 12
        assert chart_rows(client, dashboard.charts["Hottest sensors"]) == 2


def test_a_column_the_table_lacks_is_named(site: Site, tmp_path: Path) -> None:
    source = (site.pipeline / "dashboards" / "stock_market.yaml").read_text()
    broken = tmp_path / "broken.yaml"
    broken.write_text(source.replace("groupby: [symbol]", "groupby: [ticker]"))
    with pytest.raises(ConfigError) as caught:
        provision(site.server, [load_dashboard(broken)])
    message = caught.value.what
    assert str(broken) in message
    assert "'ticker' is not a column of gold.gold_bars_1m" in message
    assert "Price and VWAP per symbol" in message


def test_a_second_server_for_the_pipeline_is_refused(site: Site) -> None:
    second = SupersetServer(load(site.pipeline), port=site.server.port + 1)
    with pytest.raises(AlreadyRunningError, match="already running"):
        second.start()


def test_the_dashboard_draws_every_chart(site: Site) -> None:
    if why := browser_missing():
        pytest.fail(why)
    [dashboard] = site.report.dashboards
    driver = open_browser()
    try:
        log_in(driver, site.server.url, "admin", site.admin_password)
        driver.get(dashboard.url)
        wait_for_charts(driver, len(STOCK_CHARTS))
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "dashboard-stock-market.png"
        driver.save_screenshot(str(shot))
        texts = chart_texts(driver)
    finally:
        driver.quit()
    print(f"screenshot: {shot}")
    page = "\n".join(texts)
    for title in STOCK_CHARTS:
        assert title in page
    # ECharts paints on canvas; the table's cells are text: rank 1 of a day, a symbol.
    assert re.search(r"^\d{4}-\d{2}-\d{2} 1 [A-Z.]+ ", page, re.MULTILINE), page
    assert "error" not in page.lower()


def test_secrets_are_private_and_the_password_is_stored_nowhere(site: Site) -> None:
    home = site.server.home
    assert stat.S_IMODE(os.stat(home.secret_key_path).st_mode) == 0o600
    secret_key = home.secret_key_path.read_text().strip()
    for path in site.pipeline.joinpath(".lakeforge").rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert site.admin_password.encode() not in content, f"password in {path}"
            if path != home.secret_key_path:
                assert secret_key.encode() not in content, f"SECRET_KEY in {path}"


def _trades_charted(site: Site) -> int:
    [dashboard] = site.report.dashboards
    with site.admin() as client:
        answer = client.request(
            "GET", f"/api/v1/chart/{dashboard.charts['Trades per minute']}/data/"
        )
    return sum(int(row["trades"]) for row in answer["result"][0]["data"])


def test_charts_follow_new_snapshots_without_provisioning(site: Site) -> None:
    assert _trades_charted(site) == TRADES
    make_bronze(site.pipeline, 5_000)
    build_gold(site.pipeline)  # a new snapshot of each gold table
    assert _trades_charted(site) == TRADES + 5_000


def test_restart_keeps_everything_and_reset_password_replaces_it(site: Site) -> None:
    old_password = site.admin_password
    secret_key = site.server.home.secret_key_path.read_text()
    site.server.stop()
    site.server = SupersetServer(load(site.pipeline), port=site.server.port, reset_password=True)
    site.server.start()
    assert site.server.new_admin_password is not None
    site.admin_password = site.server.new_admin_password.get_secret_value()
    assert site.admin_password != old_password
    assert site.server.home.secret_key_path.read_text() == secret_key
    with pytest.raises(SupersetApiError, match="refused the login"):
        SupersetClient(site.server.url).login("admin", old_password)
    report = provision(site.server)
    assert report.dashboards[0].charts == site.report.dashboards[0].charts
    assert load_dashboards(site.pipeline)[0].title == "Stock market"
