"""Profiles: where a pipeline runs. ``local`` is embedded; ``cluster`` comes later."""

from lakeforge.profiles.base import Profile
from lakeforge.profiles.local import local_warehouse, open_local

__all__ = ["Profile", "local_warehouse", "open_local"]
