"""Apache Kafka as the bus: the cluster profile's log, on the confluent-kafka client.

Offsets are Kafka's own, so the offsets the lake tables store are the ones any Kafka tool
shows. The bus never relies on consumer-group commits: it fetches from explicit offsets
with a manually assigned consumer, as the stream runner resumes from the tables.

What differs from the embedded log:

* an append is not atomic: its messages are produced one by one (in order, by an
  idempotent producer, so retries add no duplicates), and when the call fails part of
  the batch may be stored. Another producer writing to the same partition at the same
  time may interleave its messages, so the batch's offsets need not be contiguous.
* retention belongs to the broker, which deletes whole segments on its own schedule;
  :meth:`~lakeforge.bus.base.Bus.enforce_retention` does nothing.
* a fetch may return fewer messages than asked for; callers fetch again.
"""

from __future__ import annotations

import operator
import os
import threading
import time
from collections.abc import Mapping
from typing import Any

import pyarrow as pa
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

# Their defining modules: confluent_kafka.admin re-exports them without declaring it.
from confluent_kafka.admin._config import AlterConfigOpType, ConfigEntry, ConfigResource
from confluent_kafka.cimpl import NewTopic

from lakeforge.bus.base import RECORD_SCHEMA, Bus, Fetched, TopicSpec, check_topic_spec
from lakeforge.bus.kafka_fetch import read_partition
from lakeforge.errors import ConfigError, NotFoundError, TransientError

# Kafka's rule for topic names, checked here for a clearer message than the broker's.
_BATCH_COLUMNS = {"key", "value", "timestamp"}
_LEADER_MOVED = {KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE}


class KafkaBus(Bus):
    """A :class:`~lakeforge.bus.base.Bus` on an Apache Kafka cluster.

    ``bootstrap_servers`` is Kafka's ``host:port[,host:port]``; ``settings`` are extra
    librdkafka properties for every client (security, for instance). Each call to the
    cluster gives up after ``request_timeout_s`` with a
    :class:`~lakeforge.errors.TransientError`; none waits longer. Clients are created on
    first use, again in a forked child, and are safe to share between threads.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        settings: Mapping[str, str] | None = None,
        request_timeout_s: float = 30,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self._timeout = float(request_timeout_s)
        self._config: dict[str, Any] = {"bootstrap.servers": bootstrap_servers, **(settings or {})}
        self._lock = threading.RLock()
        self._pid = os.getpid()
        self._admin: AdminClient | None = None
        self._producer: Producer | None = None
        self._consumer: Consumer | None = None
        # Where the consumer will read next, to skip a re-assignment on sequential fetches.
        self._position: tuple[str, int, int] | None = None
        # Partition counts never change for a lakeforge topic (keys would move).
        self._partition_counts: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"KafkaBus({self.bootstrap_servers!r})"

    def create_topic(self, topic: TopicSpec) -> None:
        """Create ``topic``, or set the retention of the existing topic of that name.

        The replication factor is the cluster's default. Raises
        :class:`~lakeforge.errors.ConfigError` for a name Kafka refuses, fewer than one
        partition, or a topic that exists with another partition count.
        """
        check_topic_spec(topic)
        retention = {"retention.ms": str(topic.retention_ms or -1)}
        new = NewTopic(topic.name, topic.partitions, config=retention)
        future = self._admin_client().create_topics(
            [new], request_timeout=self._timeout, operation_timeout=self._timeout
        )[topic.name]
        try:
            future.result()
        except KafkaException as error:
            if error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise self._translate(error, f"creating topic {topic.name!r}") from error
            existing = self._partitions(topic.name, refresh=True)
            if existing != topic.partitions:
                raise ConfigError(
                    f"topic {topic.name!r} exists in Kafka at {self.bootstrap_servers} with "
                    f"{existing} partitions, not {topic.partitions}",
                    hint="declare the partition count it has, or use a new topic name "
                    "(partitions cannot change: keys would move to other partitions)",
                ) from None
            self._set_retention(topic.name, retention)
            return
        self._wait_for_metadata(topic.name)

    def topics(self) -> dict[str, TopicSpec]:
        """Every topic but Kafka's internal ones, by name, with its retention."""
        counts = self._metadata()
        if not counts:
            return {}
        resources = [ConfigResource(ConfigResource.Type.TOPIC, name) for name in counts]
        futures = self._admin_client().describe_configs(resources, request_timeout=self._timeout)
        specs = {}
        for resource, future in futures.items():
            try:
                retention = int(future.result()["retention.ms"].value)
            except KafkaException as error:
                raise self._translate(error, "describing topics") from error
            specs[resource.name] = TopicSpec(
                resource.name, counts[resource.name], retention if retention >= 0 else None
            )
        return specs

    def append(self, topic: str, partition: int, batch: pa.Table | pa.RecordBatch) -> int:
        """Produce ``batch`` to one partition in order; return its first message's offset.

        Returns after the cluster acknowledged every message (``acks=all``). An empty
        batch stores nothing and returns the partition's end offset. Raises
        :class:`~lakeforge.errors.TransientError` when the cluster cannot be reached or
        a message is not acknowledged within ``request_timeout_s``; part of the batch may
        then be stored (see the module's notes).
        """
        columns = set(batch.schema.names)
        if "value" not in columns or not columns <= _BATCH_COLUMNS:
            raise ValueError(
                f"a batch needs a value column and may have key and timestamp; "
                f"it has {sorted(columns)}"
            )
        partition = operator.index(partition)  # numpy integers are not accepted by librdkafka
        self._check_partition(topic, partition)
        if batch.num_rows == 0:
            return self._watermarks(topic, partition)[1]
        values = batch.column("value").to_pylist()
        keys = batch.column("key").to_pylist() if "key" in columns else None
        stamps = None
        if "timestamp" in columns:
            stamps = batch.column("timestamp").cast(pa.timestamp("ms", tz="UTC")).cast(pa.int64())
            stamps = stamps.to_pylist()
        offsets: list[int] = []
        failures: list[KafkaError] = []

        def delivered(error: KafkaError | None, message: Any) -> None:
            if error is not None:
                failures.append(error)
            else:
                offsets.append(message.offset())

        producer = self._producer_client()
        deadline = time.monotonic() + self._timeout
        for i, value in enumerate(values):
            # A timestamp of 0 asks librdkafka to stamp the message with the current time.
            stamp = (stamps[i] or 0) if stamps else 0
            while True:
                try:
                    producer.produce(
                        topic, value, keys[i] if keys else None, partition,
                        on_delivery=delivered, timestamp=stamp,
                    )  # fmt: skip
                    break
                except BufferError:
                    # The local queue is full: let deliveries drain it, within the deadline.
                    if time.monotonic() > deadline:
                        failures.append(KafkaError(KafkaError._QUEUE_FULL))
                        break
                    producer.poll(0.05)
                except KafkaException as error:
                    producer.purge(in_flight=False)
                    producer.flush(self._timeout)
                    raise self._translate(error, f"appending to {topic}[{partition}]") from error
            if failures:
                break
        remaining = producer.flush(max(deadline - time.monotonic(), 0) + 5)
        if failures or remaining:
            if remaining:
                producer.purge()
                producer.flush(1)
            if any(f.fatal() for f in failures):
                self._producer = None  # an idempotent producer cannot go on after a fatal error
            if failures and failures[0].code() == KafkaError.MSG_SIZE_TOO_LARGE:
                raise self._translate(KafkaException(failures[0]), f"appending to {topic}")
            what = failures[0].str() if failures else f"{remaining} messages unacknowledged"
            raise TransientError(
                f"appending {len(values)} messages to {topic}[{partition}] on Kafka at "
                f"{self.bootstrap_servers} failed ({len(offsets)} stored): {what}",
                hint="check that the brokers are up; the batch may be partly stored",
            )
        return min(offsets)

    def fetch(
        self,
        topic: str,
        partition: int,
        offset: int,
        max_records: int,
        max_bytes: int | None = None,
    ) -> Fetched:
        """Fetch up to ``max_records`` messages from ``offset``, up to the high watermark.

        Sequential fetches of one partition reuse the consumer's position and its
        prefetched messages. Raises :class:`~lakeforge.errors.DataIntegrityError` for a
        message that fails its CRC check, and :class:`ValueError` for a negative offset or
        a ``max_records`` below one.
        """
        if offset < 0 or max_records < 1:
            raise ValueError(
                f"fetch needs offset >= 0 and max_records >= 1: {offset}, {max_records}"
            )
        self._check_partition(topic, partition)
        start, end = self._watermarks(topic, partition)
        first = max(offset, start)
        if first >= end:
            return Fetched(topic, partition, RECORD_SCHEMA.empty_table(), first)
        with self._lock:
            consumer = self._consumer_client()
            if self._position != (topic, partition, first):
                consumer.assign([TopicPartition(topic, partition, first)])
            place = f"{topic}[{partition}] on Kafka at {self.bootstrap_servers}"
            wanted = min(max_records, end - first)
            records, position = read_partition(
                consumer, place, first, end, wanted, max_bytes, time.monotonic() + self._timeout
            )
            self._position = (topic, partition, position) if position is not None else None
        next_offset = records["offset"][-1].as_py() + 1 if records.num_rows else first
        return Fetched(topic, partition, records, next_offset)

    def end_offsets(self, topic: str) -> dict[int, int]:
        """For every partition, the offset the next appended message will get."""
        return {p: self._watermarks(topic, p)[1] for p in range(self._partitions(topic))}

    def start_offsets(self, topic: str) -> dict[int, int]:
        """For every partition, the offset of the first message the broker still holds."""
        return {p: self._watermarks(topic, p)[0] for p in range(self._partitions(topic))}

    def close(self) -> None:
        """Deliver what is queued and close the clients; they reopen if used again."""
        with self._lock:
            if self._producer is not None and self._pid == os.getpid():
                self._producer.flush(self._timeout)
            if self._consumer is not None and self._pid == os.getpid():
                self._consumer.close()
            self._admin = self._producer = self._consumer = None
            self._position = None

    # Clients, made on first use and again in a forked child (librdkafka is not fork-safe).

    def _fresh_process(self) -> None:
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._admin = self._producer = self._consumer = None
            self._position = None

    def _admin_client(self) -> AdminClient:
        with self._lock:
            self._fresh_process()
            if self._admin is None:
                self._admin = AdminClient(self._config)
            return self._admin

    def _producer_client(self) -> Producer:
        with self._lock:
            self._fresh_process()
            if self._producer is None:
                timeout_ms = int(self._timeout * 1000)
                self._producer = Producer(
                    {
                        **self._config,
                        "enable.idempotence": True,
                        "acks": "all",
                        # Fail undeliverable messages within the call's time budget, so
                        # none is left queued to arrive after append raised.
                        "message.timeout.ms": timeout_ms,
                        "request.timeout.ms": min(timeout_ms, 30_000),
                        "allow.auto.create.topics": False,
                        "linger.ms": 5,
                    }
                )
            return self._producer

    def _consumer_client(self) -> Consumer:
        self._fresh_process()
        if self._consumer is None:
            self._consumer = Consumer(
                {
                    **self._config,
                    # Positions come from the caller: the group is never joined or committed.
                    "group.id": "lakeforge-bus",
                    "enable.auto.commit": False,
                    "enable.auto.offset.store": False,
                    # An offset deleted by retention starts at the first message still held.
                    "auto.offset.reset": "earliest",
                    "enable.partition.eof": True,
                    "check.crcs": True,
                    "fetch.wait.max.ms": 100,
                    "allow.auto.create.topics": False,
                }
            )
        return self._consumer

    # Metadata

    def _metadata(self) -> dict[str, int]:
        try:
            metadata = self._admin_client().list_topics(timeout=self._timeout)
        except KafkaException as error:
            raise self._translate(error, "listing topics") from error
        counts = {
            name: len(meta.partitions)
            for name, meta in metadata.topics.items()
            if not name.startswith("__") and meta.error is None
        }
        self._partition_counts = counts
        return counts

    def _partitions(self, topic: str, refresh: bool = False) -> int:
        count = None if refresh else self._partition_counts.get(topic)
        if count is None:
            # Another client may have created it since this one last looked.
            known = self._metadata()
            count = known.get(topic)
            if count is None:
                names = ", ".join(sorted(known)[:20]) or "none"
                raise NotFoundError(
                    f"topic {topic!r} does not exist in Kafka at {self.bootstrap_servers}; "
                    f"known topics: {names}",
                    hint="declare it in the pipeline, or check its spelling",
                )
        return count

    def _check_partition(self, topic: str, partition: int) -> None:
        count = self._partitions(topic)
        if not 0 <= partition < count:
            raise NotFoundError(
                f"topic {topic!r} has partitions 0 to {count - 1}; there is no partition "
                f"{partition}"
            )

    def _watermarks(self, topic: str, partition: int) -> tuple[int, int]:
        deadline = time.monotonic() + self._timeout
        with self._lock:
            consumer = self._consumer_client()
            while True:
                try:
                    low, high = consumer.get_watermark_offsets(
                        TopicPartition(topic, int(partition)), timeout=self._timeout, cached=False
                    )
                    return int(low), int(high)
                except KafkaException as error:
                    # A leader that moved (or, on a new topic, is not serving yet) answers
                    # with a retriable error: ask again until the deadline.
                    code = error.args[0].code()
                    if code not in _LEADER_MOVED or time.monotonic() > deadline:
                        doing = f"reading the offsets of {topic}[{partition}]"
                        raise self._translate(error, doing) from error
                time.sleep(0.1)

    def _wait_for_metadata(self, topic: str) -> None:
        # A new topic reaches the brokers' metadata, and its partitions get leaders, a
        # little after the controller created it; until then reading offsets fails.
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                found = self._admin_client().list_topics(timeout=self._timeout).topics.get(topic)
            except KafkaException as error:
                raise self._translate(error, f"creating topic {topic!r}") from error
            partitions = found.partitions.values() if found is not None else []
            if partitions and all(p.leader >= 0 and p.error is None for p in partitions):
                return
            if time.monotonic() > deadline:
                raise TransientError(
                    f"topic {topic!r} was created but its partitions have no leader"
                )
            time.sleep(0.05)

    def _set_retention(self, topic: str, retention: dict[str, str]) -> None:
        entries = [
            ConfigEntry(name, value, incremental_operation=AlterConfigOpType.SET)
            for name, value in retention.items()
        ]
        resource = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=entries)
        futures = self._admin_client().incremental_alter_configs(
            [resource], request_timeout=self._timeout
        )
        try:
            next(iter(futures.values())).result()
        except KafkaException as error:
            raise self._translate(error, f"setting the retention of {topic!r}") from error

    def _translate(self, error: KafkaException, doing: str) -> Exception:
        kafka_error = error.args[0]
        code = kafka_error.code() if isinstance(kafka_error, KafkaError) else None
        if code in (KafkaError.TOPIC_ALREADY_EXISTS, KafkaError.TOPIC_EXCEPTION):
            return ConfigError(f"{doing} failed: {kafka_error}")
        if code == KafkaError.MSG_SIZE_TOO_LARGE:
            return ConfigError(
                f"{doing} failed: a message is larger than Kafka accepts ({kafka_error})",
                hint="raise the topic's max.message.bytes and the client's message.max.bytes "
                "(bus settings), or send smaller values",
            )
        if code == KafkaError.UNKNOWN_TOPIC_OR_PART:
            self._partition_counts.clear()
            return NotFoundError(f"{doing} failed on Kafka at {self.bootstrap_servers}: {error}")
        return TransientError(
            f"{doing} failed: Kafka at {self.bootstrap_servers} did not answer or refused "
            f"({kafka_error})",
            hint="start Kafka, or fix the bootstrap address in the bus settings",
        )
