"""The stocks pipeline, unchanged but for its profile, on a real Kafka broker.

Everything runs through the real ``lakeforge`` command: produce to Kafka, process into
Iceberg and Delta, verify exactly once. Several runners share the partitions through a
consumer group; one is killed mid-stream; nothing is lost or duplicated.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from lakeforge.children import stop_process
from tests.kafka.cluster import (
    bronze_status,
    group_offsets,
    make_cluster_pipeline,
    registry_process,
)
from tests.lakeforge_cli import lakeforge, lakeforge_json, start
from tests.waiting import wait_until


@pytest.fixture
def registry_url() -> Iterator[str]:
    """A Confluent-compatible registry for the cluster profile (lakeforge's own, served)."""
    with registry_process() as url:
        yield url


@pytest.fixture
def cluster(stocks: Path, kafka_broker: str, registry_url: str) -> Iterator[tuple[Path, str]]:
    """The stocks pipeline with a cluster profile file, and its topic on the test broker."""
    yield stocks, make_cluster_pipeline(stocks, kafka_broker, registry_url)


def cluster_cli(*args: str, pipeline: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    return lakeforge(*args, "--profile", "cluster", pipeline=pipeline, check=check)


def test_produce_process_verify_on_kafka(cluster: tuple[Path, str], kafka_broker: str) -> None:
    stocks, topic = cluster
    cluster_cli("produce", "--count", "200000", "--rate", "0", "--quiet", pipeline=stocks)
    result = cluster_cli("process", "--until-drained", pipeline=stocks)
    assert "200,000 rows to bronze" in result.stdout
    report = lakeforge_json("verify", "--profile", "cluster", pipeline=stocks)
    assert report["ok"], report
    # Kafka's own tools see the runner's progress: the group's offsets are the ends.
    status = bronze_status(stocks)
    assert status["lag"] == 0
    ends = {p["partition"]: p["log_end"] for p in status["partitions"]}
    assert sum(ends.values()) == 200_000
    wait_until(
        lambda: group_offsets(kafka_broker, f"lakeforge-{topic}", topic, 4) == ends,
        20,
        "the consumer group's offsets to reach the log ends",
    )


def test_runners_scale_out_and_survive_a_kill(cluster: tuple[Path, str], tmp_path: Path) -> None:
    """1, 2, then 3 runners share the partitions; one is SIGKILLed; verify passes.

    The producer has no count: it streams until the test stops it after the kill, so the
    kill always lands mid-stream however slowly the machine starts the runners.
    """
    stocks, _ = cluster
    logs = [tmp_path / f"{name}.log" for name in ("producer", "runner-1", "runner-2", "runner-3")]
    producer = start(
        "produce",
        "--rate",
        "20000",
        "--quiet",
        "--profile",
        "cluster",
        pipeline=stocks,
        output=logs[0],
    )

    def runner(number: int) -> subprocess.Popen[bytes]:
        return start("process", "--profile", "cluster", pipeline=stocks, output=logs[number])

    def said() -> str:
        """The last lines of what each process printed so far."""
        tails = []
        for log in logs:
            if log.exists():
                lines = log.read_text(errors="replace").splitlines()[-15:]
                tails.append(f"--- {log.name}:\n" + "\n".join(lines))
        return "\n".join(tails)

    def committed() -> int:
        return sum(p["committed"] for p in bronze_status(stocks)["partitions"])

    runners = [runner(1)]
    try:
        wait_until(
            lambda: committed() > 100_000, 120, "the first runner to commit 100k trades", said
        )
        runners.append(runner(2))
        time.sleep(8)
        runners.append(runner(3))
        time.sleep(8)
        runners[1].send_signal(signal.SIGKILL)
        runners[1].wait(timeout=30)
        assert producer.poll() is None, "the producer ended before the kill:\n" + said()
        # The survivors take over while trades still arrive, until each shows work of its
        # own (a line every 10 batches): under load runner 3 once began only at the end.
        wait_until(
            lambda: all(
                re.search(r"^[1-9]\d* batches, ", logs[n].read_text(), re.M) for n in (1, 3)
            ),
            180,
            "both surviving runners to commit 10 batches each",
            said,
        )
        producer.send_signal(signal.SIGINT)
        assert producer.wait(timeout=60) == 0, said()
        total = sum(p["log_end"] for p in bronze_status(stocks)["partitions"])
        assert total > 100_000
        wait_until(
            lambda: committed() == total, 240, "the remaining runners to commit every trade", said
        )
        for survivor in (runners[0], runners[2]):
            survivor.send_signal(signal.SIGINT)
            assert survivor.wait(timeout=120) == 0, said()
        outputs = [logs[1].read_text(), logs[3].read_text()]
        for output in outputs:
            assert "sharing partitions in consumer group" in output
            assert "rows to bronze" in output, output
        # The runners that were stopped cleanly each did part of the work.
        shares = [int(o.split("committed ")[1].split(" batches")[0]) for o in outputs]
        assert all(share > 0 for share in shares), outputs
        report = lakeforge_json("verify", "--profile", "cluster", pipeline=stocks)
        assert report["ok"], report
        assert bronze_status(stocks)["rows"] == {"iceberg": total, "delta": total}
    finally:
        # A failure above must not leave them running past the test.
        for process in (producer, *runners):
            stop_process(process, timeout=30)


def test_run_streams_on_kafka_until_its_duration(cluster: tuple[Path, str]) -> None:
    """`run --profile cluster`: the producer it starts writes to Kafka, its runner reads."""
    stocks, _ = cluster
    result = lakeforge(
        "run",
        "--profile",
        "cluster",
        "--duration",
        "15",
        "--rate",
        "5000",
        "--no-transform",
        pipeline=stocks,
    )
    assert "(not served by run)" in result.stderr, result.stderr
    assert "stopped cleanly" in result.stdout
    report = lakeforge_json("verify", "--profile", "cluster", pipeline=stocks)
    assert report["ok"], report
    assert bronze_status(stocks)["rows"]["delta"] > 10_000


def test_lakeforge_consumes_what_a_confluent_producer_wrote(
    cluster: tuple[Path, str], kafka_broker: str
) -> None:
    """A plain confluent-kafka Producer with AvroSerializer, against the same registry."""
    stocks, topic = cluster
    lakeforge("status", "--profile", "cluster", pipeline=stocks)  # creates the topic
    registry_url = yaml.safe_load((stocks / "profiles" / "cluster.yaml").read_text())["registry"][
        "url"
    ]
    serializer = AvroSerializer(
        SchemaRegistryClient({"url": registry_url}),
        (stocks / "schemas" / "trade.avsc").read_text(),
    )
    producer = Producer({"bootstrap.servers": kafka_broker, "enable.idempotence": True})
    symbols = ["AAPL", "MSFT", "NVDA", "AMZN"]
    for i in range(1, 401):
        record = {
            "trade_id": i,
            "symbol": symbols[i % 4],
            "price": 100.0 + i / 100,
            "size": 100 + i,
            "exchange": "NASDAQ",
            "conditions": ["@"] if i % 2 else [],
            "tape": "C",
            "event_time": 1_767_225_600_000_000 + i,
        }
        value = serializer(record, SerializationContext(topic, MessageField.VALUE))
        producer.produce(topic, key=record["symbol"].encode(), value=value)
    assert producer.flush(30) == 0
    result = lakeforge("process", "--until-drained", "--profile", "cluster", pipeline=stocks)
    assert "400 rows to bronze, 0 dead letters" in result.stdout, result.stdout
    assert lakeforge_json("verify", "--profile", "cluster", pipeline=stocks)["ok"]
    rows = json.loads(
        lakeforge(
            "query",
            "SELECT count(DISTINCT trade_id) AS ids, max(price) AS top FROM bronze_delta.trades",
            "--format",
            "json",
            pipeline=stocks,
        ).stdout
    )
    assert rows == [{"ids": 400, "top": 104.0}]
