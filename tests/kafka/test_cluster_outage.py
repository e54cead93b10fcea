"""The broker dies under a running runner and comes back: clear messages, then recovery.

A broker of its own (the session's is shared by other tests): killed with SIGKILL while
the runner commits, restarted on the same ports and data. Nothing is lost or duplicated.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakeforge.lake import Warehouse
from lakeforge.registry import EmbeddedRegistry, RegistryServer
from tests.kafka.cluster import make_cluster_pipeline
from tests.kafka_broker import QUICK_RESTART, KafkaBroker
from tests.lakeforge_cli import lakeforge, lakeforge_json, start
from tests.waiting import wait_until

TRADES = 100_000


@pytest.fixture
def own_broker() -> Iterator[KafkaBroker]:
    broker = KafkaBroker(properties=QUICK_RESTART)
    broker.start()
    yield broker
    broker.stop()


def committed(stocks: Path) -> int:
    """Trades bronze holds, read from the table's positions (no broker needed)."""
    warehouse = Warehouse(stocks / ".lakeforge" / "warehouse")
    if "bronze.trades" not in {info.name for info in warehouse.list_tables()}:
        return 0
    return sum(warehouse.open_table("bronze.trades").positions().values())


def test_a_runner_waits_out_a_broker_outage(stocks: Path, own_broker: KafkaBroker) -> None:
    registry = EmbeddedRegistry(":memory:")
    with RegistryServer(registry) as server:
        make_cluster_pipeline(stocks, own_broker.bootstrap, server.url)
        lakeforge(
            "produce",
            "--count",
            str(TRADES),
            "--rate",
            "0",
            "--quiet",
            "--profile",
            "cluster",
            pipeline=stocks,
        )
        # Small batches, so the outage comes while there is still much to do.
        runner = start(
            "process",
            "--profile",
            "cluster",
            pipeline=stocks,
            env={"LAKEFORGE__STREAM__BATCH_ROWS": "5000"},
        )
        try:
            wait_until(lambda: committed(stocks) > 20_000, 120, "the runner's first commits")
            own_broker.kill()
            time.sleep(12)  # past the 10 s request timeout: the runner must notice
            assert runner.poll() is None, "the runner died with the broker"
            assert committed(stocks) < TRADES, "it finished before the outage: proves nothing"
            own_broker.start()
            wait_until(lambda: committed(stocks) == TRADES, 180, "recovery after the outage")
        except AssertionError as failure:
            runner.send_signal(signal.SIGINT)
            out, err = runner.communicate(timeout=120)
            raise AssertionError(f"{failure}; the runner said:\n{err.decode()}") from None
        runner.send_signal(signal.SIGINT)
        out, err = runner.communicate(timeout=120)
        output = err.decode() + out.decode()
        assert "retrying in" in output and f"Kafka at {own_broker.bootstrap}" in output, output
        assert "reading works again" in output, output
        assert f"{TRADES:,} rows to bronze" in output or "rows to bronze" in output
        report = lakeforge_json("verify", "--profile", "cluster", pipeline=stocks)
        assert report["ok"], report
    registry.close()
