"""The stocks pipeline in the cluster profile on the test broker: helpers for its tests."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient

from lakeforge.children import stop_process
from tests.lakeforge_cli import lakeforge_json

#: A registry process: lakeforge's embedded registry served until it is terminated.
_SERVE_REGISTRY = """
import threading
from lakeforge.registry import EmbeddedRegistry, RegistryServer
server = RegistryServer(EmbeddedRegistry(":memory:")).start()
print(server.url, flush=True)
threading.Event().wait()
"""


@contextmanager
def registry_process() -> Iterator[str]:
    """A Confluent-compatible registry in a process of its own; yields its URL.

    Out of pytest's process: the long cluster tests twice met an in-process registry
    that refused connections in the full suite (never alone), cause not found.
    """
    process = subprocess.Popen(
        [sys.executable, "-c", _SERVE_REGISTRY], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), f"the registry process said {url!r}"
        yield url
    finally:
        stop_process(process, timeout=10)


def make_cluster_pipeline(stocks: Path, bootstrap: str, registry_url: str) -> str:
    """Give the stocks copy a profiles/cluster.yaml; return its (unique) topic name.

    The broker is shared by the session's tests, so each copy gets a topic and consumer
    group of its own; that is test isolation, the profile itself is what a user writes.
    """
    topic = f"trades_{uuid.uuid4().hex[:8]}"
    path = stocks / "pipeline.yaml"
    data = yaml.safe_load(path.read_text())
    data["topics"][0]["name"] = topic
    data["source"]["topic"] = topic
    data["bronze"][0]["topic"] = topic
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    (stocks / "profiles").mkdir(exist_ok=True)
    (stocks / "profiles" / "cluster.yaml").write_text(
        yaml.safe_dump(
            {
                "kafka": {
                    "bootstrap_servers": bootstrap,
                    "consumer_group": f"lakeforge-{topic}",
                    "request_timeout": "10s",
                },
                "registry": {"url": registry_url},
            }
        )
    )
    return topic


def bronze_status(stocks: Path) -> dict[str, Any]:
    """``lakeforge status --json`` of the bronze trades table (positions, lag, rows)."""
    status = lakeforge_json("status", "--profile", "cluster", pipeline=stocks)
    table: dict[str, Any] = status["tables"]["bronze.trades"]
    return table


def group_offsets(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    """The offsets consumer group ``group`` committed, as Kafka's own tools show them."""
    from confluent_kafka import ConsumerGroupTopicPartitions

    admin = AdminClient({"bootstrap.servers": bootstrap})
    request = ConsumerGroupTopicPartitions(
        group, [TopicPartition(topic, p) for p in range(partitions)]
    )
    future = admin.list_consumer_group_offsets([request])[group]
    result = future.result(timeout=10)
    return {tp.partition: tp.offset for tp in result.topic_partitions if tp.offset >= 0}
