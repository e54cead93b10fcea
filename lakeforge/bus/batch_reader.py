"""Turning stored batches into the records of a fetch, decoding each batch once."""

from __future__ import annotations

import sqlite3
import threading
from collections import OrderedDict

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakeforge.bus import log_file
from lakeforge.bus.base import RECORD_SCHEMA
from lakeforge.bus.record_batch import BatchHeader, decode_payload, to_records
from lakeforge.errors import DataIntegrityError

#: Identifies a stored batch: topic id, partition, base offset and CRC-32. The CRC is
#: there so that a batch rewritten at the same offsets (a log restored from a backup)
#: is never served from memory.
BatchKey = tuple[int, int, int, int]
#: A batch's header and either its decoded columns (from memory) or its payload.
Loaded = tuple[BatchHeader, pa.RecordBatch | bytes]


class BatchReader:
    """Decodes stored batches for fetches and keeps the most recently used ones.

    Consumers usually fetch fewer messages than a producer appends at once; without
    the cache, every fetch would load and decode a whole batch to use a slice of it.
    ``budget_bytes`` bounds the memory the decoded batches hold. Safe to share between
    threads.
    """

    def __init__(self, budget_bytes: int = 64 << 20) -> None:
        self._budget_bytes = budget_bytes
        self._decoded: OrderedDict[BatchKey, pa.RecordBatch] = OrderedDict()
        self._held_bytes = 0
        self._lock = threading.Lock()

    def load(
        self, where: tuple[int, int], headers: list[BatchHeader], db: sqlite3.Connection
    ) -> list[Loaded]:
        """For each header, take its decoded batch from memory or its payload from ``db``.

        Call inside the fetch's read transaction; decoding waits for :meth:`records`.
        """
        cached: list[tuple[BatchHeader, pa.RecordBatch | None]] = []
        with self._lock:
            for header in headers:
                key = (*where, header.base_offset, header.crc32)
                decoded = self._decoded.get(key)
                if decoded is not None:
                    self._decoded.move_to_end(key)
                cached.append((header, decoded))
        return [
            (
                header,
                found if found is not None else log_file.payload(db, where, header.base_offset),
            )
            for header, found in cached
        ]

    def records(
        self,
        place: str,
        where: tuple[int, int],
        loaded: list[Loaded],
        first: int,
        end: int,
        max_records: int,
        max_bytes: int | None,
    ) -> pa.Table:
        """Decode what :meth:`load` found and cut it to the records of a fetch.

        The records start at offset ``first``; ``end`` is the partition's end offset.
        Gives up to ``max_records`` messages, cut after the last that fits in
        ``max_bytes`` (but at least one). Raises
        :class:`~lakeforge.errors.DataIntegrityError` naming ``place`` (topic,
        partition and file) and the offsets when a batch fails its CRC check, cannot be
        decoded, or is missing: a corrupt log is never skipped.
        """
        batches = [
            (
                header,
                found
                if isinstance(found, pa.RecordBatch)
                else self._decode(place, where, header, found),
            )
            for header, found in loaded
        ]
        return _cut(place, batches, first, end, max_records, max_bytes)

    def _decode(
        self, place: str, where: tuple[int, int], header: BatchHeader, payload: bytes
    ) -> pa.RecordBatch:
        try:
            stored = decode_payload(header, payload)
        except ValueError as error:
            last = header.base_offset + header.message_count - 1
            raise DataIntegrityError(
                f"the stored batch of offsets {header.base_offset} to {last} of {place} "
                f"is damaged: {error}",
                hint="restore the log from a backup; lakeforge never skips a corrupt batch",
            ) from error
        key, size = (*where, header.base_offset, header.crc32), stored.nbytes
        with self._lock:
            if size <= self._budget_bytes and key not in self._decoded:
                self._decoded[key] = stored
                self._held_bytes += size
                while self._held_bytes > self._budget_bytes:
                    _, evicted = self._decoded.popitem(last=False)
                    self._held_bytes -= evicted.nbytes
        return stored


def _cut(
    place: str,
    batches: list[tuple[BatchHeader, pa.RecordBatch]],
    first: int,
    end: int,
    max_records: int,
    max_bytes: int | None,
) -> pa.Table:
    pieces: list[pa.RecordBatch] = []
    position, size = first, 0
    wanted_end = min(end, first + max_records)
    for header, stored in batches:
        base, count = header.base_offset, header.message_count
        if position >= wanted_end or not base <= position < base + count:
            break  # done, or a gap that is reported below
        piece = to_records(header, stored, position - base, min(count, wanted_end - base))
        if max_bytes is not None:
            sizes = size + np.cumsum(_message_sizes(piece))
            keep = int(np.searchsorted(sizes, max_bytes, side="right"))
            if keep < piece.num_rows:
                # The first message goes even when alone it is over max_bytes.
                pieces.append(piece.slice(0, keep if keep or pieces else 1))
                return pa.Table.from_batches(pieces, schema=RECORD_SCHEMA)
            size = int(sizes[-1])
        pieces.append(piece)
        position += piece.num_rows
    if position < wanted_end:
        raise DataIntegrityError(
            f"the bus log has no batch holding offset {position} of {place}, below "
            f"its end offset {end}",
            hint="the log is damaged; restore it from a backup",
        )
    return pa.Table.from_batches(pieces, schema=RECORD_SCHEMA)


def _message_sizes(records: pa.RecordBatch) -> np.ndarray:
    # Key plus value bytes of each message, as a fetch's max_bytes counts them.
    sizes = np.zeros(records.num_rows, dtype=np.int64)
    for name in ("key", "value"):
        lengths = pc.binary_length(records.column(name)).fill_null(0)
        sizes += lengths.to_numpy(zero_copy_only=False)
    return sizes
