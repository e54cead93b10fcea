"""The local profile: everything embedded under the pipeline's state directory."""

from __future__ import annotations

from lakeforge.bus.base import TopicSpec
from lakeforge.bus.embedded import EmbeddedLog
from lakeforge.lake import Warehouse
from lakeforge.profiles.base import Profile
from lakeforge.registry.store import EmbeddedRegistry
from lakeforge.spec.model import Pipeline


def open_local(pipeline: Pipeline, create_topics: bool = True) -> Profile:
    """Open (creating on first use) the embedded log, registry and warehouse."""
    state = pipeline.state_path
    state.mkdir(parents=True, exist_ok=True)
    bus = EmbeddedLog(state / "log.db")
    if create_topics:
        for topic in pipeline.topics:
            bus.create_topic(TopicSpec(topic.name, topic.partitions, topic.retention))
    registry = EmbeddedRegistry(state / "registry.db")
    registry.set_compatibility(pipeline.registry.compatibility)
    return Profile("local", bus, registry, Warehouse(state / "warehouse"))
