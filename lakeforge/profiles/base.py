"""What a running pipeline is connected to: its bus, schema registry and warehouse."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING

from lakeforge.bus.base import Bus
from lakeforge.bus.group import PartitionGroup
from lakeforge.registry.base import SchemaRegistry

if TYPE_CHECKING:
    from lakeforge.lake import Warehouse


@dataclass
class Profile:
    """The backends of one pipeline in one profile, passed to runners as objects."""

    name: str
    bus: Bus
    registry: SchemaRegistry
    #: Opens the warehouse, on first use of :attr:`warehouse`.
    open_warehouse: Callable[[], Warehouse]
    #: Joins the group of runners sharing these topics' partitions; ``None`` where one
    #: runner owns every partition (the embedded log).
    join_group: Callable[[Sequence[str]], PartitionGroup] | None = None
    _warehouse: Warehouse | None = field(default=None, init=False, repr=False)

    @property
    def warehouse(self) -> Warehouse:
        """The lake's tables, opened on first use.

        A producer never uses them, and opening them imports pyiceberg, SQLAlchemy and
        deltalake: 0.7 s of CPU at every start of ``lakeforge produce``.
        """
        if self._warehouse is None:
            self._warehouse = self.open_warehouse()
        return self._warehouse

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
