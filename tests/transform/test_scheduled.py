"""``lakeforge run`` transforms on schedule while trades stream, with metrics a real
Prometheus scrapes from every process: producer, runner and transforms."""

from __future__ import annotations

import signal
from pathlib import Path

from lakeforge.observe import prometheus_targets
from tests.lakeforge_cli import lakeforge, lakeforge_json, start
from tests.observe.conftest import prometheus  # noqa: F401  (the fixture)
from tests.observe.test_prometheus import wait_for_endpoints
from tests.prometheus_server import PrometheusServer
from tests.transform.lake_reader import read_iceberg


def test_run_streams_transforms_and_reports_metrics(
    stocks: Path,
    prometheus: PrometheusServer,  # noqa: F811
) -> None:
    run = start(
        "run",
        "--rate",
        "5000",
        "--registry-port",
        "0",
        pipeline=stocks,
        env={"LAKEFORGE__TRANSFORM__SCHEDULE": "2s"},
    )
    try:
        endpoints = wait_for_endpoints(stocks, {"producer", "runner", "transform"})
        prometheus.set_targets(prometheus_targets(endpoints))
        prometheus.wait_for("up", lambda v: v == [1, 1, 1], timeout=120)
        succeeded = 'lakeforge_transform_runs_total{status="success"}'
        # Two successful runs: the second is incremental, over trades that kept coming.
        prometheus.wait_for(succeeded, lambda v: bool(v) and v[0] >= 2, timeout=300)
        assert prometheus.values('lakeforge_freshness_seconds{layer="gold"}')[0] > 0
        assert prometheus.values("lakeforge_transform_duration_seconds_count")[0] >= 2
        assert prometheus.values('lakeforge_records_total{stage="bronze"}')[0] > 0
        status = lakeforge_json("status", pipeline=stocks)
        assert status["transform"]["status"] == "success"
        assert {p["role"] for p in status["processes"]} == {"producer", "runner", "transform"}
    finally:
        run.send_signal(signal.SIGINT)
        _, errors = run.communicate(timeout=120)
    assert run.returncode == 0, errors.decode()
    assert "stopped cleanly" in errors.decode() or run.returncode == 0
    # Every child stopped with the run, and withdrew its endpoint.
    assert list((stocks / ".lakeforge" / "run").glob("*.json")) == []
    assert len(read_iceberg(stocks, "gold.gold_bars_1m")) > 0
    silver = read_iceberg(stocks, "silver.silver_trades")
    assert len({t["_transform_run"] for t in silver}) >= 2
    lakeforge("verify", pipeline=stocks)
