"""Runners sharing a topic's partitions: which partitions this runner owns, and when.

A bus whose runners can scale out (Kafka) offers a :class:`PartitionGroup`; with none
(the embedded log) one runner owns every partition. Ownership only decides who fetches
what: exactly once still rests on the positions the tables store, and a runner that
lost a partition mid-batch may still commit that batch safely (the table drops rows
below its stored positions and keeps the furthest position).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Assignment:
    """The partitions this runner owns, per topic, in one generation of the group."""

    #: Grows by one at every change, so a reader notices a change cheaply.
    generation: int
    partitions: Mapping[str, frozenset[int]]

    def of(self, topic: str) -> frozenset[int]:
        """The partitions of ``topic`` this runner owns."""
        return self.partitions.get(topic, frozenset())


class PartitionGroup(Protocol):
    """Membership in a group of runners that share topics' partitions."""

    #: The group's name, as the bus's own tools show it.
    name: str

    def assignment(self) -> Assignment | None:
        """What this runner owns now; ``None`` until it first joined the group."""
        ...

    def wait_for_assignment(self, timeout_s: float) -> Assignment | None:
        """Wait until this runner joined the group; ``None`` if it did not in time."""
        ...

    def report_positions(self, topic: str, positions: Mapping[int, int]) -> None:
        """Tell the group how far this runner committed (for the bus's lag tools)."""
        ...

    def close(self) -> None:
        """Leave the group at once, so that the others take over its partitions."""
        ...
