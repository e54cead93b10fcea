"""Reading one assigned Kafka partition into an Arrow batch of RECORD_SCHEMA."""

from __future__ import annotations

import time
from collections.abc import Callable

import pyarrow as pa
from confluent_kafka import Consumer, KafkaError

from lakeforge.bus.base import RECORD_SCHEMA
from lakeforge.errors import DataIntegrityError, TransientError


def read_partition(
    consumer: Consumer,
    place: str,
    first: int,
    end: int,
    wanted: int,
    max_bytes: int | None,
    deadline: float,
    no_answer: Callable[[str], Exception],
) -> tuple[pa.Table, int | None]:
    """Consume up to ``wanted`` messages of the one assigned partition from ``first``.

    Returns them and the consumer's position after them, or ``None`` when it consumed a
    message it did not return (a ``max_bytes`` cut), so the next fetch must re-assign.
    When the deadline passes before any message came (the partition holds some below
    ``end``), raises what ``no_answer`` makes of that, rather than return nothing: a
    caller that fetches again at once would otherwise wait forever without a word.
    """
    offsets: list[int] = []
    stamps: list[int] = []
    keys: list[bytes | None] = []
    values: list[bytes | None] = []
    size, expected = 0, first
    while len(offsets) < wanted and (left := deadline - time.monotonic()) > 0:
        for message in consumer.consume(wanted - len(offsets), timeout=min(left, 1.0)):
            error, at = message.error(), int(message.offset() or 0)
            if error is not None:
                # An end-of-partition event below ``end`` was queued by an earlier fetch.
                if error.code() == KafkaError._PARTITION_EOF:
                    if at >= end:
                        wanted = len(offsets)
                    continue
                if error.code() == KafkaError._BAD_MSG:
                    raise DataIntegrityError(f"a message of {place} is damaged: {error.str()}")
                raise TransientError(f"fetching from {place} failed: {error.str()}")
            if at < expected:
                continue  # left over from before a re-assignment
            key, value = message.key(), message.value()
            weight = len(key or b"") + len(value or b"")
            if max_bytes is not None and offsets and size + weight > max_bytes:
                return records_table(offsets, stamps, keys, values), None
            size += weight
            expected = at + 1
            offsets.append(at)
            stamps.append(message.timestamp()[1])
            keys.append(key)
            values.append(value)
    if not offsets and wanted > 0:
        raise no_answer(f"no message from offset {first} arrived")
    return records_table(offsets, stamps, keys, values), expected


def records_table(
    offsets: list[int], stamps: list[int], keys: list[bytes | None], values: list[bytes | None]
) -> pa.Table:
    """The consumed messages as one Arrow table of RECORD_SCHEMA."""
    arrays = [
        pa.array(offsets, pa.int64()),
        pa.array(stamps, pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
        pa.array(keys, pa.binary()),
        pa.array(values, pa.binary()),
    ]
    return pa.Table.from_arrays(arrays, schema=RECORD_SCHEMA)
