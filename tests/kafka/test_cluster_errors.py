"""The cluster profile's commands fail fast and clearly when Kafka cannot be used."""

from __future__ import annotations

import time
from pathlib import Path

from tests.kafka.cluster import make_cluster_pipeline
from tests.kafka_broker import free_port
from tests.lakeforge_cli import lakeforge


def test_an_unreachable_broker_is_a_clear_error_not_a_hang(stocks: Path) -> None:
    closed = f"127.0.0.1:{free_port()}"  # nothing listens there
    make_cluster_pipeline(stocks, closed, "http://127.0.0.1:9")
    (stocks / "profiles" / "cluster.yaml").write_text(
        f"kafka:\n  bootstrap_servers: {closed}\n  request_timeout: 3s\n"
        "registry:\n  url: http://127.0.0.1:9\n"
    )
    for command in (["process"], ["produce", "--count", "10"], ["status"]):
        began = time.monotonic()
        result = lakeforge(*command, "--profile", "cluster", pipeline=stocks, check=False)
        took = time.monotonic() - began
        assert result.returncode != 0, command
        assert f"Kafka at {closed}" in result.stderr, result.stderr
        assert "hint:" in result.stderr and "Traceback" not in result.stderr
        assert took < 30, f"{command} took {took:.0f}s to give up"
