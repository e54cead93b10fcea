"""Profiles: where a pipeline runs. ``local`` is embedded; ``cluster`` is Kafka and a registry."""

from lakeforge.profiles.base import Profile
from lakeforge.profiles.local import local_warehouse, open_local
from lakeforge.spec.model import Pipeline

__all__ = ["Profile", "local_warehouse", "open_local", "open_profile"]


def open_profile(pipeline: Pipeline, create_topics: bool = True) -> Profile:
    """Open the backends of the pipeline's profile (``pipeline.profile``)."""
    if pipeline.profile == "cluster":
        from lakeforge.profiles.cluster import open_cluster

        return open_cluster(pipeline, create_topics)
    return open_local(pipeline, create_topics)
