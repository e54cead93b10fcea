"""The cluster profile: Apache Kafka as the bus and a Confluent-compatible registry by URL.

The warehouse is still the pipeline's state directory here; object storage comes with
the deployments. Several runners may share the topics' partitions through a Kafka
consumer group (:mod:`lakeforge.bus.kafka_group`).
"""

from __future__ import annotations

from collections.abc import Sequence

from lakeforge.bus import TopicSpec, open_bus
from lakeforge.bus.group import PartitionGroup
from lakeforge.errors import ConfigError
from lakeforge.profiles.base import Profile
from lakeforge.profiles.connections import consumer_group, kafka_client_settings, open_registry
from lakeforge.profiles.local import local_warehouse
from lakeforge.spec.model import Pipeline


def open_cluster(pipeline: Pipeline, create_topics: bool = True) -> Profile:
    """Connect to Kafka (creating the topics) and to the registry at ``registry.url``."""
    if not pipeline.registry.url:
        raise ConfigError(
            "the cluster profile needs a schema registry: registry.url is not set",
            "set it in profiles/cluster.yaml or LAKEFORGE__REGISTRY__URL (any "
            "Confluent-compatible registry, or `lakeforge registry`)",
        )
    kafka = pipeline.kafka
    settings = kafka_client_settings(kafka, pipeline.directory)
    timeout_s = kafka.request_timeout / 1000
    bus = open_bus(
        "kafka",
        bootstrap_servers=kafka.bootstrap_servers,
        settings=settings,
        request_timeout_s=timeout_s,
    )
    try:
        if create_topics:
            for topic in pipeline.topics:
                bus.create_topic(TopicSpec(topic.name, topic.partitions, topic.retention))
        registry = open_registry(pipeline)
    except BaseException:
        bus.close()
        raise

    def join_group(topics: Sequence[str]) -> PartitionGroup:
        from lakeforge.bus.kafka_group import KafkaGroup

        config = {"bootstrap.servers": kafka.bootstrap_servers, **settings}
        return KafkaGroup(consumer_group(pipeline), topics, config)

    pipeline.state_path.mkdir(parents=True, exist_ok=True)
    return Profile("cluster", bus, registry, lambda: local_warehouse(pipeline), join_group)
