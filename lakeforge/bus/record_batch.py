"""How the embedded log stores one appended batch, the way Kafka stores a record batch.

One append is one stored unit. Offsets are not stored per message: the batch has a
base offset and message ``i`` has offset ``base_offset + i``. The payload is an Arrow
IPC stream of the batch's other columns (``value``, and ``key`` and ``timestamp`` only
when they carry information): a batch whose keys are all null stores no key column, and
a batch stamped with its append time stores that time once, as ``first_timestamp``.

A CRC-32 covers the payload and the batch header (base offset, count, timestamps), so
that a flipped bit anywhere in a stored batch is caught on read instead of being served.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakeforge.bus.base import RECORD_SCHEMA

#: How a payload's Arrow buffers are compressed when a sample of its values shows that
#: it pays; ``None`` stores them as they are.
Compression = Literal["lz4", "zstd"] | None

_TIMESTAMP = RECORD_SCHEMA.field("timestamp").type
_STORED_TYPES = {"key": pa.binary(), "value": pa.binary(), "timestamp": _TIMESTAMP}
_HEADER = struct.Struct("<qqqq")
# Compress a batch when a sample of its values shrinks below 90%.
_SAMPLE_BYTES = 64 << 10
_WORTH_IT = 0.9


class BatchHeader(NamedTuple):
    """What the log stores next to a batch's payload."""

    base_offset: int
    message_count: int
    #: Milliseconds since the epoch, UTC: the first message's and the largest.
    first_timestamp: int
    max_timestamp: int
    #: Key and value bytes of all messages, before encoding and compression.
    message_bytes: int
    #: Of the payload followed by the header; see :func:`batch_checksum`.
    crc32: int


@dataclass(frozen=True)
class EncodedBatch:
    """A batch ready to store, before it has a base offset."""

    count: int
    first_timestamp: int
    max_timestamp: int
    message_bytes: int
    payload: pa.Buffer
    #: CRC-32 of the payload alone; :func:`batch_checksum` folds in the header.
    payload_crc: int

    def header(self, base_offset: int) -> BatchHeader:
        """Return the header of this batch stored at ``base_offset``."""
        stamps = (self.first_timestamp, self.max_timestamp)
        crc = batch_checksum(self.payload_crc, base_offset, self.count, *stamps)
        return BatchHeader(base_offset, self.count, *stamps, self.message_bytes, crc)


def encode_batch(
    batch: pa.Table | pa.RecordBatch, now_ms: int, compression: Compression
) -> EncodedBatch:
    """Validate a batch to append and encode its columns as one compact payload.

    Raises :class:`ValueError` when the batch lacks a ``value`` column, has a column
    the bus does not store, or has a column that cannot become the bus's type.
    """
    columns = _appendable_columns(batch)
    count = len(columns["value"])
    stored: dict[str, pa.Array] = {"value": columns["value"]}
    if "key" in columns and columns["key"].null_count < count:
        stored["key"] = columns["key"]
    message_bytes = sum(_byte_length(array) for array in stored.values())
    first_timestamp = max_timestamp = now_ms
    if "timestamp" in columns and count:
        stamps = columns["timestamp"].fill_null(pa.scalar(now_ms, _TIMESTAMP))
        as_ms = stamps.cast(pa.int64())
        first_timestamp = as_ms[0].as_py()
        max_timestamp = pc.max(as_ms).as_py()
        stored["timestamp"] = stamps
    record_batch = pa.RecordBatch.from_arrays(list(stored.values()), names=list(stored))
    if compression is not None and not _compression_pays(stored["value"], compression):
        compression = None
    sink = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(compression=compression)
    with pa.ipc.new_stream(sink, record_batch.schema, options=options) as writer:
        writer.write_batch(record_batch)
    payload = sink.getvalue()
    return EncodedBatch(
        count, first_timestamp, max_timestamp, message_bytes, payload, zlib.crc32(payload)
    )


def batch_checksum(
    payload_crc: int, base_offset: int, count: int, first_timestamp: int, max_timestamp: int
) -> int:
    """Return the CRC-32 stored with a batch: of its payload followed by its header.

    The payload comes first so that its CRC, the costly part, is computed before the
    append takes the write lock, when the base offset is not yet known.
    """
    header = _HEADER.pack(base_offset, count, first_timestamp, max_timestamp)
    return zlib.crc32(header, payload_crc)


def decode_payload(header: BatchHeader, payload: bytes) -> pa.RecordBatch:
    """Check a payload against its header's CRC and decode its stored columns.

    Raises :class:`ValueError` saying what is wrong: a CRC mismatch (the file was
    damaged), or a payload that is not what the log writes.
    """
    crc = batch_checksum(
        zlib.crc32(payload),
        header.base_offset,
        header.message_count,
        header.first_timestamp,
        header.max_timestamp,
    )
    if crc != header.crc32:
        raise ValueError(
            f"it fails its CRC-32 check (stored {header.crc32:#010x}, read {crc:#010x})"
        )
    try:
        stored = pa.ipc.open_stream(pa.py_buffer(payload)).read_next_batch()
    except (pa.ArrowInvalid, StopIteration) as error:
        raise ValueError(f"its payload is not an Arrow IPC stream: {error}") from error
    names = set(stored.schema.names)
    if stored.num_rows != header.message_count or "value" not in names or names - {*_STORED_TYPES}:
        raise ValueError(
            f"its payload holds {stored.num_rows} messages with columns {sorted(names)}, "
            f"not {header.message_count} messages with a value column"
        )
    return stored


def to_records(
    header: BatchHeader, stored: pa.RecordBatch, start: int, stop: int
) -> pa.RecordBatch:
    """Return messages ``start`` to ``stop`` (positions in the batch) as RECORD_SCHEMA."""
    size = stop - start
    stored = stored.slice(start, size)
    base = header.base_offset
    offsets = pa.array(np.arange(base + start, base + stop, dtype=np.int64))
    names = stored.schema.names
    if "timestamp" in names:
        timestamps = stored.column("timestamp")
    else:
        constant = np.full(size, header.first_timestamp, dtype=np.int64)
        timestamps = pa.array(constant, type=_TIMESTAMP)
    keys = stored.column("key") if "key" in names else pa.nulls(size, pa.binary())
    return pa.RecordBatch.from_arrays(
        [offsets, timestamps, keys, stored.column("value")], schema=RECORD_SCHEMA
    )


def _appendable_columns(batch: pa.Table | pa.RecordBatch) -> dict[str, pa.Array]:
    names = list(batch.schema.names)
    if "value" not in names or set(names) - {*_STORED_TYPES}:
        raise ValueError(
            f"a batch to append has the columns {names}; it needs a 'value' column and "
            f"may have 'key' and 'timestamp', nothing else"
        )
    columns: dict[str, pa.Array] = {}
    for name in names:
        column = batch.column(name)
        array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        wanted = _STORED_TYPES[name]
        if array.type != wanted:
            try:
                # Timestamps finer than milliseconds are truncated, as Kafka does.
                array = array.cast(wanted, safe=name != "timestamp")
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
                raise ValueError(
                    f"the batch's {name!r} column is {array.type}, which cannot become "
                    f"{wanted}: {error}"
                ) from error
        columns[name] = array
    return columns


def _compression_pays(values: pa.Array, compression: str) -> bool:
    # Compressing random-looking values (encrypted, already compressed) costs 10-20% of
    # append throughput and saves nothing: try a sample of the value bytes first.
    data = values.buffers()[2]
    if data is None or data.size == 0:
        return False
    sample = data.slice(0, min(data.size, _SAMPLE_BYTES))
    compressed = pa.compress(sample, codec=compression, asbytes=False)
    return bool(compressed.size < sample.size * _WORTH_IT)


def _byte_length(array: pa.Array) -> int:
    total = pc.sum(pc.binary_length(array)).as_py()
    return int(total or 0)
