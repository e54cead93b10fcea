"""What a running pipeline is connected to: its bus, schema registry and warehouse."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType

from lakeforge.bus.base import Bus
from lakeforge.bus.group import PartitionGroup
from lakeforge.lake import Warehouse
from lakeforge.registry.base import SchemaRegistry


@dataclass
class Profile:
    """The backends of one pipeline in one profile, passed to runners as objects."""

    name: str
    bus: Bus
    registry: SchemaRegistry
    warehouse: Warehouse
    #: Joins the group of runners sharing these topics' partitions; ``None`` where one
    #: runner owns every partition (the embedded log).
    join_group: Callable[[Sequence[str]], PartitionGroup] | None = None

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
