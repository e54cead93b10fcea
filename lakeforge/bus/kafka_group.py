"""A Kafka consumer group used for membership only: who owns which partitions.

The stream runner fetches through :class:`~lakeforge.bus.kafka.KafkaBus` from the
positions its tables store, never from the group's offsets. The group's consumer
therefore pauses every partition it is given and fetches nothing; it is polled on a
thread of its own so that it answers rebalances and stays a member however long a
commit takes. It also commits the runner's positions as the group's offsets, so that
``kafka-consumer-groups.sh`` and other Kafka tools show the runners' lag.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from confluent_kafka import Consumer, KafkaError, TopicPartition

from lakeforge.bus.group import Assignment
from lakeforge.bus.kafka_log import kafka_logger

log = logging.getLogger(__name__)

#: How often the membership thread polls: bounds how late a rebalance is noticed.
POLL_S = 0.1
#: A runner killed without leaving is noticed by the group after this long.
SESSION_TIMEOUT_MS = 10_000


class KafkaGroup:
    """Join consumer group ``name`` on ``topics`` and follow this member's assignment."""

    def __init__(
        self,
        name: str,
        topics: Sequence[str],
        config: Mapping[str, Any],
    ) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._joined = threading.Condition(self._lock)
        self._assignment: Assignment | None = None
        self._generation = 0
        self._positions: dict[tuple[str, int], int] = {}
        self._stop = threading.Event()
        self._consumer = Consumer(
            {
                **config,
                "group.id": name,
                # Offsets are committed by hand, from the positions the tables store.
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                # Eager round robin: a rebalance revokes everything, then hands out an
                # even share, so ownership never overlaps inside this process.
                "partition.assignment.strategy": "roundrobin",
                "session.timeout.ms": SESSION_TIMEOUT_MS,
                "heartbeat.interval.ms": SESSION_TIMEOUT_MS // 4,
                "logger": kafka_logger(),
            }
        )
        self._consumer.subscribe(
            list(topics), on_assign=self._assigned, on_revoke=self._revoked, on_lost=self._revoked
        )
        self._thread = threading.Thread(target=self._poll, name=f"group-{name}", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"KafkaGroup({self.name!r})"

    def assignment(self) -> Assignment | None:
        """What this runner owns now; ``None`` until it first joined the group."""
        with self._lock:
            return self._assignment

    def wait_for_assignment(self, timeout_s: float) -> Assignment | None:
        """Wait until this runner joined the group; ``None`` if it did not in time."""
        with self._joined:
            self._joined.wait_for(lambda: self._assignment is not None, timeout_s)
            return self._assignment

    def report_positions(self, topic: str, positions: Mapping[int, int]) -> None:
        """Commit ``positions`` as the group's offsets, on the next poll."""
        with self._lock:
            owned = self._assignment.of(topic) if self._assignment else frozenset()
            self._positions |= {(topic, p): o for p, o in positions.items() if p in owned}

    def close(self) -> None:
        """Commit the last positions and leave the group, so others take over at once."""
        self._stop.set()
        self._thread.join()

    def _poll(self) -> None:
        try:
            while not self._stop.is_set():
                message = self._consumer.poll(POLL_S)
                error = message.error() if message is not None else None
                if error is not None:
                    self._report(error)
                self._commit_positions()
            self._commit_positions()
        finally:
            self._consumer.close()  # leaves the group: a rebalance starts at once

    def _commit_positions(self) -> None:
        with self._lock:
            pending, self._positions = self._positions, {}
        if not pending:
            return
        offsets = [TopicPartition(t, p, o) for (t, p), o in pending.items()]
        try:
            self._consumer.commit(offsets=offsets, asynchronous=True)
        except Exception as error:  # offsets are for Kafka's tools: never fatal
            log.warning("group %s: could not commit offsets: %s", self.name, error)

    def _report(self, error: KafkaError) -> None:
        if error.code() == KafkaError._PARTITION_EOF:
            return
        # Through the quiet logger: a broker that is down reports itself at every poll.
        kafka_logger().warning("group %s: %s", self.name, error.str())

    def _assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Fetch nothing: the runner reads through the bus, from the tables' positions.
        consumer.assign(partitions)
        if partitions:
            consumer.pause(partitions)
        owned: dict[str, set[int]] = {}
        for tp in partitions:
            owned.setdefault(tp.topic, set()).add(tp.partition)
        self._set({topic: frozenset(ps) for topic, ps in owned.items()})
        log.info("group %s: this runner now owns %s", self.name, _describe(owned))

    def _revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._commit_positions()
        self._set({})
        consumer.unassign()

    def _set(self, partitions: Mapping[str, frozenset[int]]) -> None:
        with self._joined:
            self._generation += 1
            self._assignment = Assignment(self._generation, dict(partitions))
            self._joined.notify_all()


def _describe(owned: Mapping[str, set[int]]) -> str:
    if not owned:
        return "no partitions"
    return ", ".join(f"{topic}{sorted(ps)}" for topic, ps in sorted(owned.items()))
