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
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import pyarrow as pa
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

# Their defining modules: confluent_kafka.admin re-exports them without declaring it.
from confluent_kafka.admin._config import AlterConfigOpType, ConfigEntry, ConfigResource
from confluent_kafka.cimpl import NewTopic

from lakeforge.bus.base import RECORD_SCHEMA, Bus, Fetched, TopicSpec, check_topic_spec
from lakeforge.bus.kafka_fetch import read_partition
from lakeforge.bus.kafka_log import kafka_logger
from lakeforge.errors import ConfigError, LakeforgeError, NotFoundError, TransientError

_BATCH_COLUMNS = {"key", "value", "timestamp"}
_LEADER_MOVED = {KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE}
#: One bootstrap address: an optional ``protocol://``, a host name, IPv4 or bracketed
#: IPv6 address, and a port. librdkafka would take a bare host and try port 9092: the
#: Java client refuses that, and so does the bus, so a forgotten port is a clear error.
_ADDRESS = re.compile(r"(?:[A-Za-z_]+://)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):([0-9]{1,5})")
#: Client-level errors librdkafka reports (through ``error_cb``) while a call waits in
#: vain, the most telling first: they say why the cluster did not answer.
_CAUSES = (
    KafkaError._AUTHENTICATION,
    KafkaError._SSL,
    KafkaError._RESOLVE,
    KafkaError._TRANSPORT,
    KafkaError._ALL_BROKERS_DOWN,
)
_AUTHENTICATION_FAILED = {KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED}
_NOT_AUTHORIZED = {
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.CLUSTER_AUTHORIZATION_FAILED,
    KafkaError.GROUP_AUTHORIZATION_FAILED,
}
_NO_TOPIC = {KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC}
#: Errors a retry cannot cure (the rest, timeouts first, may pass with the outage).
_TERMINAL = {
    KafkaError.MSG_SIZE_TOO_LARGE,
    KafkaError.TOPIC_EXCEPTION,
    *_NO_TOPIC,
    *_AUTHENTICATION_FAILED,
    *_NOT_AUTHORIZED,
}
#: Words in a librdkafka property's name that mark its value as a secret, never shown.
_SECRET_WORDS = ("password", "secret", "jaas", "token", "oauthbearer.config", "key.pem")
_REDACTED = "[redacted]"


#: Every consumer of the bus: positions come from the caller, so the group is never
#: joined or committed.
_CONSUMER_SETTINGS: dict[str, Any] = {
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


class KafkaBus(Bus):
    """A :class:`~lakeforge.bus.base.Bus` on an Apache Kafka cluster.

    ``bootstrap_servers`` is Kafka's ``host:port[,host:port]``; ``settings`` are extra
    librdkafka properties for every client (security, for instance). Each call to the
    cluster gives up after ``request_timeout_s`` with a
    :class:`~lakeforge.errors.TransientError` saying why when librdkafka knows (nothing
    listens, a host name that does not resolve); none waits longer. Credentials the
    cluster refuses are a :class:`~lakeforge.errors.ConfigError`. Secrets in
    ``settings`` (``sasl.password``, ...) never appear in the bus's repr or errors.
    Clients are created on first use, again in a forked child, and are safe to share
    between threads.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        settings: Mapping[str, str] | None = None,
        request_timeout_s: float = 30,
    ) -> None:
        check_bootstrap_servers(bootstrap_servers)
        self.bootstrap_servers = bootstrap_servers
        self._timeout = float(request_timeout_s)
        settings = dict(settings or {})
        self._config: dict[str, Any] = {
            "bootstrap.servers": bootstrap_servers,
            **settings,
            # librdkafka tells why it cannot reach the cluster here, not in the failed call.
            "error_cb": self._on_client_error,
            # Its own log through Python logging, repeats held back (a broker that is
            # down would otherwise print to stderr many times a second).
            "logger": kafka_logger(),
        }
        self._secrets = sorted(
            {
                str(value)
                for name, value in settings.items()
                if value and any(word in name.lower() for word in _SECRET_WORDS)
            },
            key=len,
            reverse=True,  # a secret that contains another is replaced whole
        )
        self._lock = threading.RLock()
        self._pid = os.getpid()
        self._admin: AdminClient | None = None
        self._producer: Producer | None = None
        self._consumer: Consumer | None = None
        # One reader per partition, assigned once: sequential fetches of a partition then
        # keep its prefetched messages. (One consumer re-assigned from partition to
        # partition threw its prefetch away and stalled about a second on each switch:
        # docs/benchmarks.md, issue 5.)
        self._readers: dict[tuple[str, int], Consumer] = {}
        self._positions: dict[tuple[str, int], int] = {}
        # Partition counts never change for a lakeforge topic (keys would move).
        self._partition_counts: dict[str, int] = {}
        # The latest client-level error of each kind since the cluster last answered.
        self._client_errors: dict[int, str] = {}

    def __repr__(self) -> str:
        user = self._config.get("sasl.username")
        return f"KafkaBus({self.bootstrap_servers!r}" + (f", user={user!r})" if user else ")")

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
        place = f"{topic}[{partition}]"
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
                    raise self._translate(error, f"appending to {place}", topic) from error
            if failures:
                break
        remaining = producer.flush(max(deadline - time.monotonic(), 0) + 5)
        if failures or remaining:
            if remaining:
                producer.purge()
                producer.flush(1)
            if any(f.fatal() for f in failures):
                self._producer = None  # an idempotent producer cannot go on after a fatal error
            count = f"{len(values)} message" + ("s" if len(values) != 1 else "")
            doing = f"appending {count} to {place} ({len(offsets)} stored)"
            if failures and failures[0].code() in _TERMINAL:
                raise self._translate(KafkaException(failures[0]), doing, topic)
            what = failures[0].str() if failures else f"{remaining} messages unacknowledged"
            raise self._no_answer(doing, what, also="; the batch may be partly stored")
        self._answered()
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
        message that fails its CRC check, :class:`~lakeforge.errors.TransientError` when
        no message arrives within ``request_timeout_s`` though the partition holds some,
        and :class:`ValueError` for a negative offset or a ``max_records`` below one.
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
        key = (topic, partition)
        with self._lock:
            consumer = self._reader(key)
            if self._positions.get(key) != first:
                consumer.assign([TopicPartition(topic, partition, first)])
            place = f"{topic}[{partition}] on Kafka at {self.bootstrap_servers}"
            wanted = min(max_records, end - first)
            self._positions.pop(key, None)  # unknown until the read succeeds
            records, position = read_partition(
                consumer,
                place,
                first,
                end,
                wanted,
                max_bytes,
                time.monotonic() + self._timeout,
                lambda detail: self._no_answer(f"fetching from {topic}[{partition}]", detail),
            )
            if position is not None:
                self._positions[key] = position
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
            if self._pid == os.getpid():
                for consumer in [self._consumer, *self._readers.values()]:
                    if consumer is not None:
                        consumer.close()
            self._admin = self._producer = self._consumer = None
            self._readers, self._positions = {}, {}

    # Clients, made on first use and again in a forked child (librdkafka is not fork-safe).

    def _fresh_process(self) -> None:
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._admin = self._producer = self._consumer = None
            self._readers, self._positions = {}, {}

    def _admin_client(self) -> AdminClient:
        with self._lock:
            self._fresh_process()
            if self._admin is None:
                self._admin = self._client(AdminClient, {})
            return self._admin

    def _producer_client(self) -> Producer:
        with self._lock:
            self._fresh_process()
            if self._producer is None:
                timeout_ms = int(self._timeout * 1000)
                self._producer = self._client(
                    Producer,
                    {
                        "enable.idempotence": True,
                        "acks": "all",
                        # Fail undeliverable messages within the call's time budget, so
                        # none is left queued to arrive after append raised.
                        "message.timeout.ms": timeout_ms,
                        "request.timeout.ms": min(timeout_ms, 30_000),
                        "allow.auto.create.topics": False,
                        "linger.ms": 5,
                    },
                )
            return self._producer

    def _reader(self, key: tuple[str, int]) -> Consumer:
        """The consumer that reads partition ``key`` (made on first use)."""
        self._fresh_process()
        reader = self._readers.get(key)
        if reader is None:
            reader = self._readers[key] = self._client(
                Consumer,
                {
                    **_CONSUMER_SETTINGS,
                    # Prefetch per partition is bounded, so memory is too, however many
                    # partitions a runner reads.
                    "queued.max.messages.kbytes": 16_384,
                },
            )
        return reader

    def _consumer_client(self) -> Consumer:
        self._fresh_process()
        if self._consumer is None:
            self._consumer = self._client(Consumer, _CONSUMER_SETTINGS)
        return self._consumer

    def _client(self, kind: Callable[[dict[str, Any]], Any], own: dict[str, Any]) -> Any:
        try:
            return kind({**self._config, **own})
        except KafkaException as error:
            # librdkafka checks every property when a client is made: a misspelt or
            # misplaced one is a settings mistake, not an outage.
            raise ConfigError(
                self._clean(f"the Kafka client settings are not valid: {error.args[0].str()}"),
                hint="check the bus settings (librdkafka properties: "
                "https://docs.confluent.io/platform/current/clients/librdkafka/html/"
                "md_CONFIGURATION.html)",
            ) from None

    # Why the cluster did not answer: librdkafka reports it apart from the failed call.

    def _on_client_error(self, error: KafkaError) -> None:
        # Called from poll()/flush()/consume() in whatever thread serves the client.
        self._client_errors[error.code()] = error.str()

    def _answered(self) -> None:
        """The cluster answered: earlier connection errors no longer explain anything."""
        self._client_errors.clear()

    def _cause(self) -> tuple[int, str] | None:
        # An admin or producer client queues its errors until polled; polling either
        # serves only callbacks (and delivery reports), never consumes messages.
        for client in (self._admin, self._producer):
            if client is not None and self._pid == os.getpid():
                client.poll(0)
        for code in _CAUSES:
            reason = self._client_errors.get(code)  # another thread may clear it meanwhile
            if reason is not None:
                return code, reason
        return None

    def _no_answer(self, doing: str, detail: str, also: str = "") -> LakeforgeError:
        """The error for a call the cluster did not answer, with the reason if known.

        ``also`` ends the hint of a transient error (what the failed call may have left).
        """
        where = f"Kafka at {self.bootstrap_servers}"
        cause = self._cause()
        code, reason = cause if cause is not None else (None, detail)
        if code == KafkaError._AUTHENTICATION:
            return self._authentication_failed(doing, reason)
        if code == KafkaError._SSL:
            return ConfigError(
                self._clean(f"{doing} failed: the TLS handshake with {where} failed ({reason})"),
                hint="check the CA (kafka.ssl_ca_location) and client certificate settings, "
                "and that this listener speaks TLS (kafka.security_protocol)",
            )
        if code == KafkaError._RESOLVE:
            what = f"a host name of {where} does not resolve ({reason})"
            hint = "fix the bootstrap servers (kafka.bootstrap_servers), or check DNS"
        elif code in (KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN):
            what = f"{where} cannot be reached ({reason})"
            hint = "start Kafka, or fix the bootstrap servers (kafka.bootstrap_servers)"
        else:
            what = f"{where} did not answer within {self._timeout:g} s ({reason})"
            hint = (
                "check that the brokers are up and reachable from here, and raise "
                "kafka.request_timeout for a slow cluster; start Kafka if it is down"
            )
        return TransientError(self._clean(f"{doing} failed: {what}"), hint=hint + also)

    def _authentication_failed(self, doing: str, reason: str) -> ConfigError:
        user = self._config.get("sasl.username")
        mechanism = self._config.get("sasl.mechanism") or "unset"
        where = f"Kafka at {self.bootstrap_servers}"
        if "handshake" in reason.lower():
            # The listener and the client disagree on SASL itself, before any password.
            return ConfigError(
                self._clean(
                    f"{doing} failed: the SASL handshake with {where} failed: the "
                    f"listener does not offer SASL mechanism {mechanism} ({reason})"
                ),
                hint="check that kafka.security_protocol is the listener's (SASL_* only "
                "for a SASL listener) and kafka.sasl_mechanism one it enables",
            )
        who = f"user {user!r}" if user else "this client"
        return ConfigError(
            self._clean(
                f"{doing} failed: {where} refused the credentials of {who}: "
                f"authentication failed ({reason})"
            ),
            hint=f"check the user name, the SASL mechanism ({mechanism}) and the password "
            "(kafka.sasl_username, kafka.sasl_mechanism, LAKEFORGE__KAFKA__SASL_PASSWORD "
            "or kafka.sasl_password_file)",
        )

    def _clean(self, text: str) -> str:
        """``text`` with every secret of the settings replaced, whatever produced it."""
        for secret in self._secrets:
            text = text.replace(secret, _REDACTED)
        return text

    # Metadata

    def _metadata(self) -> dict[str, int]:
        admin = self._admin_client()
        try:
            metadata = admin.list_topics(timeout=self._timeout)
        except KafkaException as error:
            raise self._translate(error, "listing topics") from error
        # Serve errors queued before this answer, so they do not explain a later failure.
        admin.poll(0)
        self._answered()
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
                raise self._no_topic(topic, sorted(known))
        return count

    def _no_topic(self, topic: str, known: list[str] | None = None) -> NotFoundError:
        names = f"; known topics: {', '.join(known[:20]) or 'none'}" if known is not None else ""
        return NotFoundError(
            f"topic {topic!r} does not exist in Kafka at {self.bootstrap_servers}{names}",
            hint=f"create it (the cluster profile creates the topics the pipeline declares; "
            f"or kafka-topics.sh --create --topic {topic}), or check its spelling",
        )

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
                        raise self._translate(error, doing, topic) from error
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

    def _translate(
        self, error: KafkaException, doing: str, topic: str | None = None
    ) -> LakeforgeError:
        kafka_error = error.args[0]
        if not isinstance(kafka_error, KafkaError):
            return self._no_answer(doing, self._clean(str(error)))
        code, detail = kafka_error.code(), kafka_error.str()
        if code in (KafkaError.TOPIC_ALREADY_EXISTS, KafkaError.TOPIC_EXCEPTION):
            return ConfigError(self._clean(f"{doing} failed: {detail}"))
        if code == KafkaError.MSG_SIZE_TOO_LARGE:
            return ConfigError(
                f"{doing} failed: a message is larger than Kafka accepts ({detail})",
                hint="raise the topic's max.message.bytes and the client's message.max.bytes "
                "(bus settings), or send smaller values",
            )
        if code in _NO_TOPIC:
            self._partition_counts.clear()
            return self._no_topic(topic) if topic else NotFoundError(f"{doing} failed: {detail}")
        if code in _AUTHENTICATION_FAILED:
            return self._authentication_failed(doing, detail)
        if code in _NOT_AUTHORIZED:
            user = self._config.get("sasl.username")
            who = f"user {user!r}" if user else "this client"
            return ConfigError(
                self._clean(
                    f"{doing} failed: Kafka at {self.bootstrap_servers} does not allow "
                    f"{who} to do that ({detail})"
                ),
                hint="grant the ACLs it needs (kafka-acls.sh), or use another user",
            )
        return self._no_answer(doing, detail)


def check_bootstrap_servers(servers: str) -> None:
    """Refuse a bootstrap list that is not ``host:port[,host:port...]``, saying why.

    Raises :class:`~lakeforge.errors.ConfigError`: an empty list, an empty entry, a
    missing or impossible port, or characters no host name has.
    """
    hint = "write host:port, several separated by commas (kafka-1:9092,kafka-2:9092)"
    if not isinstance(servers, str) or not servers.strip():
        raise ConfigError(f"the Kafka bootstrap servers are empty ({servers!r})", hint=hint)
    for entry in servers.split(","):
        address = entry.strip()
        found = _ADDRESS.fullmatch(address)
        if found is None:
            problem = "has no port" if address and ":" not in address else "is not host:port"
            if not address:
                problem = "has an empty entry"
            shown = f"{address!r} " if address else ""
            raise ConfigError(
                f"the Kafka bootstrap servers {servers!r}: {shown}{problem}", hint=hint
            )
        if not 0 < int(found.group(1)) < 65536:
            raise ConfigError(
                f"the Kafka bootstrap servers {servers!r}: {address!r} has port "
                f"{found.group(1)}, outside 1-65535",
                hint=hint,
            )
