"""The metrics server, the endpoint files that advertise it, and --metrics-port on the CLI."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lakeforge.errors import ConfigError
from lakeforge.observe import Metrics, MetricsServer, live_endpoints, serve_metrics
from lakeforge.observe.endpoints import run_dir
from lakeforge.spec.load import load_pipeline
from lakeforge.spec.model import Pipeline
from tests.lakeforge_cli import lakeforge


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port on 127.0.0.1 that this test listens on, so nothing else can have it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.fixture
def pipeline(stocks: Path) -> Pipeline:
    return load_pipeline(stocks, environ={})


def test_serves_its_own_registry_on_a_free_port_and_releases_it() -> None:
    metrics = Metrics()
    metrics.records.labels("p", "produced").inc(7)
    with MetricsServer(metrics.registry) as server:
        assert server.port > 0
        assert server.url == f"http://127.0.0.1:{server.port}/metrics"
        text = httpx.get(server.url, timeout=5).text
        assert 'lakeforge_records_total{pipeline="p",stage="produced"} 7.0' in text
        port = server.port
    # Released: a new server (a restarted process) gets the same port again.
    with MetricsServer(metrics.registry, port) as again:
        assert httpx.get(again.url, timeout=5).status_code == 200


def test_a_taken_port_is_a_clear_error(taken_port: int) -> None:
    with pytest.raises(ConfigError) as caught:
        MetricsServer(Metrics().registry, taken_port).start()
    assert f"127.0.0.1:{taken_port}" in caught.value.what
    assert "already in use" in caught.value.what
    assert caught.value.hint is not None and "--metrics-port 0" in caught.value.hint


def test_serve_metrics_advertises_then_withdraws(pipeline: Pipeline) -> None:
    with serve_metrics(pipeline, "runner", 0, Metrics()) as server:
        assert server is not None
        (endpoint,) = live_endpoints(pipeline)
        assert (endpoint.role, endpoint.url, endpoint.pipeline) == ("runner", server.url, "stocks")
        assert endpoint.target == f"127.0.0.1:{server.port}"
    assert live_endpoints(pipeline) == []
    assert not (run_dir(pipeline) / "runner.json").exists()


def test_no_port_serves_nothing(pipeline: Pipeline) -> None:
    with serve_metrics(pipeline, "runner", None) as server:
        assert server is None
        assert live_endpoints(pipeline) == []


def test_files_of_dead_processes_and_garbage_are_ignored(pipeline: Pipeline) -> None:
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)  # fmt: skip
    folder = run_dir(pipeline)
    folder.mkdir(parents=True)
    stale = {"role": "producer", "pid": int(finished.stdout), "url": "http://127.0.0.1:1/metrics",
             "pipeline": "stocks", "started_at": "2026-01-01T00:00:00+00:00"}  # fmt: skip
    (folder / "producer.json").write_text(json.dumps(stale))
    (folder / "runner.json").write_text("{ not json")
    (folder / "other.json").write_text(json.dumps({"role": "other"}))
    assert live_endpoints(pipeline) == []
    with serve_metrics(pipeline, "runner", 0, Metrics()):
        assert [e.role for e in live_endpoints(pipeline)] == ["runner"]


@pytest.mark.parametrize(
    ("command", "value"),
    [("produce", "abc"), ("produce", "-1"), ("process", "65536"), ("process", "80.5")],
)
def test_bad_metrics_port_values_are_refused(stocks: Path, command: str, value: str) -> None:
    result = lakeforge(command, "--metrics-port", value, pipeline=stocks, check=False)
    assert result.returncode == 2, result.stderr
    assert "Invalid value for '--metrics-port'" in result.stderr
    assert "0 to 65535" in result.stderr and "'off'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (stocks / ".lakeforge").exists(), "nothing may start on a bad option"


def test_taken_metrics_port_on_the_cli_names_the_port(stocks: Path, taken_port: int) -> None:
    result = lakeforge(
        "process", "--until-drained", "--metrics-port", str(taken_port), pipeline=stocks,
        check=False,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert f"cannot serve metrics on 127.0.0.1:{taken_port}" in result.stderr
    assert "hint:" in result.stderr and "--metrics-port 0" in result.stderr
    assert "Traceback" not in result.stderr


def test_metrics_port_off_serves_nothing(stocks: Path) -> None:
    result = lakeforge(
        "produce", "--count", "100", "--rate", "0", "--metrics-port", "off", pipeline=stocks
    )
    assert "metrics:" not in result.stderr
    result = lakeforge("produce", "--count", "100", "--rate", "0", pipeline=stocks)
    assert "metrics: http://127.0.0.1:" in result.stderr  # served by default, on a free port
