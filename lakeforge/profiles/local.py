"""The local profile: everything embedded under the pipeline's state directory."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lakeforge.bus.base import TopicSpec
from lakeforge.bus.embedded import EmbeddedLog
from lakeforge.profiles.base import Profile
from lakeforge.profiles.connections import open_registry
from lakeforge.spec.model import Pipeline

if TYPE_CHECKING:
    from lakeforge.lake import Warehouse


def local_warehouse(pipeline: Pipeline) -> Warehouse:
    """The warehouse alone, for commands that need no log or registry."""
    # imported here: the lake's libraries are heavy, and a producer never needs them
    from lakeforge.lake import Warehouse

    return Warehouse(pipeline.state_path / "warehouse")


def open_local(pipeline: Pipeline, create_topics: bool = True) -> Profile:
    """Open (creating on first use) the embedded log, the registry and the warehouse."""
    state = pipeline.state_path
    state.mkdir(parents=True, exist_ok=True)
    bus = EmbeddedLog(state / "log.db")
    if create_topics:
        for topic in pipeline.topics:
            bus.create_topic(TopicSpec(topic.name, topic.partitions, topic.retention))
    registry = open_registry(pipeline)
    return Profile("local", bus, registry, lambda: local_warehouse(pipeline))
