"""A real Prometheus scrapes the producer and the stream runner; its answers match the lake."""

from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path

import pyarrow as pa

from lakeforge.bus.produce import produce
from lakeforge.observe import (
    Endpoint,
    Metrics,
    MetricsServer,
    live_endpoints,
    observe_gold_freshness,
    observe_transform,
    prometheus_targets,
)
from lakeforge.observe.stream import count_kinds
from lakeforge.profiles import open_local
from lakeforge.source.producer import Producer
from lakeforge.spec.checks import check_pipeline
from lakeforge.spec.load import load_pipeline
from lakeforge.spec.model import Pipeline
from lakeforge.stream.runner import StreamRunner
from tests.lakeforge_cli import lakeforge, lakeforge_json, start
from tests.prometheus_server import PrometheusServer

PRODUCED = 20_000
#: Messages no decoder accepts: a wrong magic byte, and one too short for a header.
BAD = [b"\x07" + b"\x00" * 12] * 3 + [b"\x00\x00"] * 2


def by_label(prometheus: PrometheusServer, expression: str, label: str) -> dict[str, float]:
    return {s["metric"][label]: float(s["value"][1]) for s in prometheus.query(expression)}


def loaded(folder: Path) -> Pipeline:
    pipeline = load_pipeline(folder, environ={})
    check_pipeline(pipeline)
    return pipeline


def test_prometheus_reads_exact_counts_from_producer_and_runner(
    stocks: Path, prometheus: PrometheusServer
) -> None:
    pipeline = loaded(stocks)
    metrics = Metrics()  # this test's own registry: nothing from other tests in it
    with open_local(pipeline) as profile, MetricsServer(metrics.registry) as server:
        Producer(pipeline, profile, metrics).run(count=PRODUCED, rate=0)
        produce(profile.bus, "trades", pa.array(BAD, pa.binary()), None, 4)
        StreamRunner(pipeline, profile, metrics).run(until_drained=True)
        letters = profile.warehouse.open_table("bronze.trades_dead_letters").read("delta")
        observe_transform("stocks", 2.5, ok=True, metrics=metrics)
        observe_transform("stocks", 1.0, ok=False, metrics=metrics)
        observe_gold_freshness("stocks", 3.25, metrics=metrics)

        prometheus.set_targets([{"targets": [f"127.0.0.1:{server.port}"], "labels": {}}])
        prometheus.wait_for('lakeforge_records_total{stage="bronze"}', lambda v: v != [])

        stages = by_label(prometheus, 'lakeforge_records_total{pipeline="stocks"}', "stage")
        assert stages == {
            "produced": PRODUCED,
            "fetched": PRODUCED + len(BAD),
            "bronze": PRODUCED,
            "dead_letters": len(BAD),
        }
        kinds = by_label(prometheus, "lakeforge_dead_letters_total", "kind")
        assert kinds == count_kinds(letters)
        assert "bad_magic" in kinds
        lag = by_label(prometheus, 'lakeforge_lag_records{topic="trades"}', "partition")
        assert lag == {"0": 0, "1": 0, "2": 0, "3": 0}
        freshness = by_label(prometheus, "lakeforge_freshness_seconds", "layer")
        assert set(freshness) == {"bronze", "gold"}
        assert freshness["bronze"] > 0 and freshness["gold"] == 3.25
        assert prometheus.values('lakeforge_commit_duration_seconds_count{table="bronze.trades"}')
        assert prometheus.values("lakeforge_commit_duration_seconds_sum")[0] > 0
        fetched_batches = 'lakeforge_batch_rows_count{stage="fetched"}'
        assert prometheus.values(fetched_batches)[0] >= 1
        assert prometheus.values('lakeforge_batch_rows_sum{stage="produced"}') == [PRODUCED]
        assert prometheus.values('lakeforge_bytes_total{stage="produced"}')[0] > PRODUCED
        samples = 'lakeforge_record_freshness_seconds_count{layer="bronze"}'
        assert prometheus.values(samples)[0] > 0
        runs = by_label(prometheus, "lakeforge_transform_runs_total", "status")
        assert runs == {"success": 1, "error": 1}
        assert prometheus.values("lakeforge_transform_duration_seconds_sum") == [3.5]
        last = prometheus.values("lakeforge_transform_last_success_timestamp_seconds")
        assert abs(last[0] - time.time()) < 3600


def test_prometheus_scrapes_produce_and_process_through_the_cli(
    stocks: Path, prometheus: PrometheusServer
) -> None:
    runner = start("process", "--metrics-port", "0", pipeline=stocks)
    producer = start("produce", "--rate", "2000", "--metrics-port", "0", pipeline=stocks)
    try:
        endpoints = wait_for_endpoints(stocks, {"producer", "runner"})
        prometheus.set_targets(prometheus_targets(endpoints))
        up = prometheus.wait_for("up", lambda v: v == [1, 1])
        assert up == [1, 1]
        roles = by_label(prometheus, 'lakeforge_records_total{stage="produced"}', "role")
        assert set(roles) == {"producer"}
        prometheus.wait_for('lakeforge_records_total{stage="bronze"}', lambda v: v and v[0] > 0)

        # While both run, status finds them, reads their rates and lists them.
        status = lakeforge_json("status", pipeline=stocks)
        assert {p["role"] for p in status["processes"]} == {"producer", "runner"}
        assert all(p["answering"] for p in status["processes"])
        assert status["rates"]["source"] == "processes"
        assert status["rates"]["produced_per_s"] is not None
        assert status["rates"]["bronze_per_s"] is not None

        producer.send_signal(signal.SIGINT)
        assert producer.wait(timeout=60) == 0
        out = producer.stdout.read().decode() if producer.stdout else ""
        match = re.search(r"produced ([\d,]+) records", out)
        assert match, out
        produced = int(match.group(1).replace(",", ""))
        # The runner saw every record the producer made, and said so to Prometheus.
        counted = 'lakeforge_records_total{stage="bronze", role="runner"}'
        assert prometheus.wait_for(counted, lambda v: v == [produced]) == [produced]
        assert prometheus.values('lakeforge_lag_records{role="runner"}') == [0, 0, 0, 0]
        assert prometheus.values('lakeforge_freshness_seconds{layer="bronze"}')
        assert prometheus.values("lakeforge_commit_duration_seconds_count")[0] > 0
    finally:
        for process in (producer, runner):
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                process.wait(timeout=60)
    assert runner.returncode == 0
    # A clean stop takes the endpoint files away.
    assert not list((stocks / ".lakeforge" / "run").glob("*.json"))
    assert lakeforge_json("status", pipeline=stocks)["processes"] == []
    assert lakeforge_json("verify", pipeline=stocks)["ok"]


def wait_for_endpoints(pipeline: Path, roles: set[str]) -> list[Endpoint]:
    """The endpoints of ``roles``, once every one of them has advertised itself."""
    folder = loaded(pipeline)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        endpoints = live_endpoints(folder)
        if {e.role for e in endpoints} == roles:
            return endpoints
        time.sleep(0.1)
    found = [json.loads(p.read_text()) for p in (pipeline / ".lakeforge" / "run").glob("*.json")]
    raise AssertionError(f"expected endpoints of {roles}, found {found}")


def test_status_without_processes_reads_nothing_live(stocks: Path) -> None:
    lakeforge("produce", "--count", "1000", "--rate", "0", "--quiet", pipeline=stocks)
    status = lakeforge_json("status", pipeline=stocks)
    assert status["processes"] == []
    assert status["rates"]["source"] is None
