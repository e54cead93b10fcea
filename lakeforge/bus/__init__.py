"""The bus: a durable, partitioned, offset-addressed log of messages.

Buses are found by name and imported only when opened, so that importing this package
stays cheap and does not need the optional dependencies of every bus (Kafka's client).
Third-party buses register under the ``lakeforge.buses`` entry-point group.
"""

from __future__ import annotations

import importlib
import inspect
from importlib.metadata import entry_points
from typing import Any

from lakeforge.bus.base import RECORD_SCHEMA, Bus, Fetched, TopicSpec, partitions_for_keys
from lakeforge.bus.produce import produce
from lakeforge.errors import ConfigError

__all__ = [
    "BUSES",
    "RECORD_SCHEMA",
    "Bus",
    "Fetched",
    "TopicSpec",
    "open_bus",
    "partitions_for_keys",
    "produce",
]

#: The buses lakeforge ships, by name: ``"module:Class"``.
BUSES: dict[str, str] = {
    "embedded": "lakeforge.bus.embedded:EmbeddedLog",
    "kafka": "lakeforge.bus.kafka:KafkaBus",
}

_ENTRY_POINT_GROUP = "lakeforge.buses"


def open_bus(kind: str, **settings: Any) -> Bus:
    """Open the bus named ``kind`` with its ``settings`` (``open_bus("embedded", path=...)``).

    Raises :class:`~lakeforge.errors.ConfigError` for an unknown kind, listing the known
    ones, or for settings that bus does not take.
    """
    known = dict(BUSES)
    if kind not in known:
        known |= {entry.name: entry.value for entry in entry_points(group=_ENTRY_POINT_GROUP)}
    if kind not in known:
        raise ConfigError(
            f"there is no bus kind {kind!r}; known kinds: {', '.join(sorted(known))}",
            hint="check the bus kind in the pipeline settings",
        )
    module_name, _, class_name = known[kind].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        # Built-in buses name their optional dependencies' extra after themselves.
        hint = f"pip install 'lakeforge[{kind}]'" if kind in BUSES else None
        raise ConfigError(f"the {kind!r} bus needs {error.name}, not installed", hint) from error
    bus_class = getattr(module, class_name)
    try:
        inspect.signature(bus_class).bind(**settings)
    except TypeError as error:
        raise ConfigError(f"the {kind!r} bus does not take these settings: {error}") from error
    bus: Bus = bus_class(**settings)
    return bus
