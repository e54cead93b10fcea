"""What a running pipeline is connected to: its bus, schema registry and warehouse."""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType

from lakeforge.bus.base import Bus
from lakeforge.lake import Warehouse
from lakeforge.registry.base import SchemaRegistry


@dataclass
class Profile:
    """The backends of one pipeline in one profile, passed to runners as objects."""

    name: str
    bus: Bus
    registry: SchemaRegistry
    warehouse: Warehouse

    def close(self) -> None:
        """Close every backend."""
        self.bus.close()
        self.registry.close()

    def __enter__(self) -> Profile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
