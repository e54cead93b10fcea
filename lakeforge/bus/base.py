"""The bus seam: a durable, partitioned, offset-addressed log of messages.

The embedded SQLite log implements it for the local profile and Kafka for the cluster
profile. The stream runner never depends on a bus's own consumer offsets for
correctness: it asks for messages from an explicit offset, and the lake tables store
the offsets they have consumed.

Messages travel as Arrow data, never one Python object per message:

* a batch to append is a :class:`pyarrow.Table` (or ``RecordBatch``) with a ``value``
  column (binary), and optionally ``key`` (binary, nullable) and ``timestamp``
  (``timestamp[ms, UTC]``; the bus fills the append time when it is absent);
* a fetched batch is a :class:`Fetched` whose ``records`` table has the columns of
  :data:`RECORD_SCHEMA`, in offset order.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from lakeforge.errors import ConfigError

#: The columns of every fetched batch, in this order.
RECORD_SCHEMA = pa.schema(
    [
        pa.field("offset", pa.int64(), nullable=False),
        pa.field("timestamp", pa.timestamp("ms", tz="UTC"), nullable=False),
        pa.field("key", pa.binary()),
        pa.field("value", pa.binary()),
    ]
)


@dataclass(frozen=True)
class TopicSpec:
    """A topic as the pipeline declares it."""

    name: str
    partitions: int
    #: Messages older than this may be deleted; ``None`` keeps them forever.
    retention_ms: int | None = None


@dataclass(frozen=True)
class Fetched:
    """Messages fetched from one partition, in offset order.

    ``next_offset`` is where the next fetch should start; it can be past the last
    record's offset + 1 when the log skipped deleted (retention) ranges.
    """

    topic: str
    partition: int
    records: pa.Table
    next_offset: int

    @property
    def count(self) -> int:
        """How many messages were fetched."""
        return int(self.records.num_rows)


class Bus(abc.ABC):
    """A durable partitioned log.

    Implementations must be safe to use from several processes at once (one producer
    and one consumer process at least).
    """

    @abc.abstractmethod
    def create_topic(self, topic: TopicSpec) -> None:
        """Create ``topic``; change nothing but its retention when it exists.

        Creating a topic again with the same partition count is safe: buses that manage
        retention themselves take the new ``retention_ms``. Raises
        :class:`~lakeforge.errors.ConfigError` when it exists with another partition
        count, or for a name Kafka would refuse (letters, digits, ``.``, ``_``, ``-``).
        """

    @abc.abstractmethod
    def topics(self) -> dict[str, TopicSpec]:
        """Every topic, by name."""

    @abc.abstractmethod
    def append(self, topic: str, partition: int, batch: pa.Table | pa.RecordBatch) -> int:
        """Append ``batch`` to one partition atomically and durably.

        Returns the offset of its first message; an empty batch stores nothing and
        returns the partition's end offset. All or none of the batch becomes visible.
        Raises :class:`~lakeforge.errors.NotFoundError` for an unknown topic or
        partition, and :class:`ValueError` for a batch without a ``value`` column or
        with columns other than ``key``, ``value`` and ``timestamp``.
        """

    @abc.abstractmethod
    def fetch(
        self,
        topic: str,
        partition: int,
        offset: int,
        max_records: int,
        max_bytes: int | None = None,
    ) -> Fetched:
        """Fetch up to ``max_records`` messages starting at ``offset``.

        An offset below the partition's start (deleted by retention) starts at the
        first message still held; an offset at or past the end returns an empty batch
        whose ``next_offset`` is ``offset``. A bus may return fewer messages than it
        holds; callers fetch again from ``next_offset``. ``max_bytes`` bounds the key
        and value bytes returned, but at least one message comes back so that a
        consumer always makes progress.

        Raises :class:`~lakeforge.errors.NotFoundError` for an unknown topic or
        partition, :class:`~lakeforge.errors.DataIntegrityError` when stored messages
        are damaged (never skipped), and :class:`ValueError` for a negative offset or
        a ``max_records`` below one.
        """

    @abc.abstractmethod
    def end_offsets(self, topic: str) -> dict[int, int]:
        """For every partition, the offset the next appended message will get."""

    @abc.abstractmethod
    def start_offsets(self, topic: str) -> dict[int, int]:
        """For every partition, the offset of the first message still held."""

    def enforce_retention(self) -> int:
        """Delete what topics' retention allows; return how many messages went.

        Buses whose server enforces retention itself keep this default.
        """
        return 0

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections and files."""

    def __enter__(self) -> Bus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 hash of ``data`` as a signed 32-bit integer (its Java client's)."""
    mask = 0xFFFFFFFF
    m, r = 0x5BD1E995, 24
    length = len(data)
    h = (0x9747B28C ^ length) & mask
    whole = length - length % 4
    for i in range(0, whole, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * m) & mask
        k ^= k >> r
        k = (k * m) & mask
        h = ((h * m) & mask) ^ k
    tail = length % 4
    if tail == 3:
        h ^= data[whole + 2] << 16
    if tail >= 2:
        h ^= data[whole + 1] << 8
    if tail >= 1:
        h ^= data[whole]
        h = (h * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


#: Kafka's rule for topic names, which every bus follows so a pipeline moves freely.
_TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")


def check_topic_spec(topic: TopicSpec) -> None:
    """Refuse a topic name, partition count or retention that no bus accepts."""
    if not _TOPIC_NAME.fullmatch(topic.name) or topic.name in (".", ".."):
        raise ConfigError(
            f"{topic.name!r} is not a valid topic name",
            hint="use 1 to 249 letters, digits, '.', '_' or '-', as Kafka requires",
        )
    if topic.partitions < 1:
        raise ConfigError(
            f"topic {topic.name!r} needs at least 1 partition, not {topic.partitions}"
        )
    if topic.retention_ms is not None and topic.retention_ms <= 0:
        raise ConfigError(
            f"topic {topic.name!r} has retention_ms {topic.retention_ms}",
            hint="give a positive number of milliseconds, or none to keep messages forever",
        )


def partitions_for_keys(keys: pa.Array | Iterable[bytes | None], partitions: int) -> np.ndarray:
    """Map message keys to partitions, the same way on every bus and every run.

    A key's partition is Kafka's default: the positive murmur2 hash of the key modulo
    the partition count, so Java and lakeforge producers agree; a null key goes to
    partition 0. Keys repeat a lot (symbols), so each distinct key is hashed once.
    """
    array = keys if isinstance(keys, pa.Array | pa.ChunkedArray) else pa.array(keys, pa.binary())
    encoded = pa.chunked_array([array]) if isinstance(array, pa.Array) else array
    encoded = encoded.cast(pa.binary()).combine_chunks().dictionary_encode()
    dictionary = encoded.dictionary.to_pylist()
    table = np.array(
        [(murmur2(k) & 0x7FFFFFFF) % partitions if k is not None else 0 for k in dictionary] or [0],
        dtype=np.int32,
    )
    indices = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
    return np.where(indices >= 0, table[np.maximum(indices, 0)], 0).astype(np.int32)
