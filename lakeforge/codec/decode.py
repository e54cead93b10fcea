"""Decode a batch of Confluent-framed Avro messages into an Arrow table, column by column.

The framing of every message is checked at once; messages are grouped by the schema id
in their header; each group is read with its writer's schema, one field of every record
per step (see :mod:`lakeforge.codec.decode_fields`), in slices of :data:`ROWS_PER_SLICE`
records so the working arrays stay in the CPU cache; the columns are then resolved to
the reader's schema. Writer schemas of flat records are decoded by the C extension
first when it is built (:mod:`lakeforge.codec.decode_native`), with the same result;
``LAKEFORGE_NATIVE_DECODE=0`` turns it off. A message that cannot be decoded never
stops the batch: it is reported in :attr:`Decoded.errors` with a kind and a reason, and
every input position ends up either in :attr:`Decoded.index` or in ``errors.index``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from lakeforge.codec import decode_native, varint
from lakeforge.codec.buffers import binary_parts
from lakeforge.codec.cursors import Bodies, Cursors, Failures, byte_count
from lakeforge.codec.decode_fields import read_fields
from lakeforge.codec.resolve import (
    IncompatibleSchemaError,
    Problem,
    Resolution,
    plan,
    unread_fields,
)
from lakeforge.codec.schema import AvroSchema
from lakeforge.codec.varint import I64
from lakeforge.errors import NotFoundError, SchemaError

#: Bytes before the Avro body: magic byte 0, then the schema id as a big-endian int32.
HEADER_BYTES = 5

#: Records decoded together in one pass over the fields (the arrays fit in L2 cache).
ROWS_PER_SLICE = 16_384


@dataclass(frozen=True, eq=False)
class DecodeErrors:
    """The messages of a batch that could not be decoded, in input order."""

    #: Position in the input of each failed message.
    index: NDArray[np.int64]
    #: What went wrong, one of :data:`~lakeforge.codec.cursors.ERROR_KINDS`.
    kind: list[str]
    #: The kind, what went wrong, and where: "truncated: field 'price' needs 8 bytes ...".
    reason: list[str]

    def __len__(self) -> int:
        return len(self.index)


@dataclass(frozen=True, eq=False)
class Decoded:
    """The result of decoding one batch of messages."""

    #: The decoded records, with the reader schema's columns, in input order (its
    #: columns come in chunks: call ``combine_chunks()`` if one buffer is needed).
    table: pa.Table
    #: Position in the input of each row of ``table``.
    index: NDArray[np.int64]
    #: The writer schema id in the header of each row of ``table``.
    schema_ids: NDArray[np.int32]
    #: The messages that failed.
    errors: DecodeErrors
    #: The writer schema ids of this batch whose records have fields the reader's schema
    #: lacks, with those fields: their values are dropped (Avro resolution).
    unread_fields: dict[int, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Writer:
    """What the decoder knows about one writer schema id."""

    schema: AvroSchema | None
    resolution: Resolution | None = None
    #: (kind, reason) when messages with this id cannot be decoded at all.
    failure: tuple[str, str] | None = None
    #: The writer's fields the reader lacks (see :func:`~lakeforge.codec.resolve.unread_fields`).
    unread: tuple[str, ...] = ()


class Decoder:
    """Decodes Confluent-framed Avro messages into Arrow tables of one reader schema.

    ``writer_schema_by_id`` returns the schema text for a schema id (for example
    ``SchemaRegistry.schema_by_id``) and raises
    :class:`~lakeforge.errors.NotFoundError` for an unknown id. It is called once per id:
    answers, including "not found", are kept for the decoder's life, since a
    registry never reuses an id for another schema. Other exceptions it raises (a
    registry that is down) propagate, so that messages are not dead-lettered for a
    transient reason. A message longer than ``max_message_bytes`` (header included)
    fails as ``too_large`` without being read.
    """

    def __init__(
        self,
        reader: AvroSchema,
        writer_schema_by_id: Callable[[int], str],
        max_message_bytes: int = 1_048_576,
    ) -> None:
        self.reader = reader
        self.max_message_bytes = max_message_bytes
        self._lookup = writer_schema_by_id
        self._writers: dict[int, _Writer] = {}

    def decode(self, values: pa.BinaryArray | pa.ChunkedArray) -> Decoded:
        """Decode every message of ``values`` (the message values of a batch)."""
        if isinstance(values, pa.ChunkedArray):
            parts = []
            base = 0
            for chunk in values.chunks:
                parts.append(self._decode_array(chunk, base))
                base += len(chunk)
            return _concat(parts, self.reader)
        return self._decode_array(values, 0)

    @property
    def writer_ids(self) -> list[int]:
        """The schema ids met so far whose messages this decoder can read."""
        return [i for i, writer in self._writers.items() if writer.failure is None]

    def failure(self, schema_id: int) -> str | None:
        """Why messages of writer schema ``schema_id`` cannot be read; None if they can."""
        failure = self._writer(schema_id).failure
        return None if failure is None else failure[1]

    def unread_fields(self, schema_id: int) -> tuple[str, ...]:
        """The fields of writer schema ``schema_id`` that the reader's schema lacks.

        Their values are dropped when its messages are read. Empty when every field is
        read, or when the messages cannot be read at all (see :meth:`failure`).
        """
        return self._writer(schema_id).unread

    def _decode_array(self, values: pa.Array, base: int) -> Decoded:
        if not (pa.types.is_binary(values.type) or pa.types.is_large_binary(values.type)):
            values = values.cast(pa.binary())
        offsets, data = binary_parts(values)
        data = data[offsets[0] : offsets[-1]]
        if len(data) < 2 * varint.PADDING:
            data = varint.padded(data)  # too small for the padding-free reads below
        offsets = offsets - offsets[0]
        failures = Failures()
        framed, ids = self._check_framing(values, offsets, data, base, failures)
        parts: list[tuple[pa.Table, I64]] = []
        unread: dict[int, tuple[str, ...]] = {}
        framed_ids = ids if len(framed) == len(ids) else ids[framed]
        distinct = _distinct(framed_ids)
        for schema_id in distinct:
            rows = framed if len(distinct) == 1 else framed[framed_ids == schema_id]
            writer = self._writer(int(schema_id))
            if writer.failure is not None:
                kind, reason = writer.failure
                failures.add(rows + base, kind, [reason] * len(rows))
                continue
            if writer.unread:
                unread[int(schema_id)] = writer.unread
            parts.append(self._decode_group(writer, data, offsets, rows, base, failures))
        decoded = _assemble(parts, ids, base, failures, self.reader)
        return replace(decoded, unread_fields=unread) if unread else decoded

    def _check_framing(
        self, values: pa.Array, offsets: I64, data: varint.U8, base: int, failures: Failures
    ) -> tuple[I64, NDArray[np.int32]]:
        """Fail messages with no value or a bad header; the rest and every schema id."""
        sizes = np.diff(offsets)
        starts = offsets[:-1]
        # every header at once; a message too short for one (it fails) reads another's
        # id, but always its own first byte: its magic byte decides how it fails
        headers = np.ndarray((len(data) - 4,), dtype="V5", buffer=data, strides=(1,))
        header = headers[np.minimum(starts, len(data) - HEADER_BYTES)].view(np.uint8)
        header = header.reshape(-1, HEADER_BYTES)
        magic = data[np.minimum(starts, len(data) - 1)]  # an empty message fails as empty
        ids = np.ascontiguousarray(header[:, 1:]).view(">i4").ravel().astype(np.int32)
        empty = sizes == 0
        if values.null_count:
            empty |= values.is_null().to_numpy(zero_copy_only=False)
        problems: list[tuple[NDArray[np.bool_], str, Callable[[int], str]]] = [
            (empty, "empty", lambda i: "the message has no value"),
            (
                sizes > self.max_message_bytes,
                "too_large",
                lambda i: (
                    f"the message has {sizes[i]} bytes, more than the limit of "
                    f"{self.max_message_bytes}"
                ),
            ),
            (
                magic != 0,
                "bad_magic",
                lambda i: (
                    f"the message starts with byte 0x{magic[i]:02x}, not the "
                    "Confluent magic byte 0x00"
                ),
            ),
            (
                sizes < HEADER_BYTES,
                "truncated",
                lambda i: (
                    f"the message has {byte_count(int(sizes[i]))}, the Confluent header needs "
                    f"{HEADER_BYTES}"
                ),
            ),
        ]
        bad = problems[0][0] | problems[1][0] | problems[2][0] | problems[3][0]
        if not bad.any():
            return np.arange(len(sizes), dtype=np.int64), ids
        bad[:] = False
        for mask, kind, reason in problems:
            rows = np.flatnonzero(mask & ~bad)
            if rows.size:
                failures.add(rows + base, kind, [reason(int(i)) for i in rows])
                bad[rows] = True
        return np.flatnonzero(~bad).astype(np.int64), ids

    def _writer(self, schema_id: int) -> _Writer:
        known = self._writers.get(schema_id)
        if known is None:
            known = self._writers[schema_id] = self._load_writer(schema_id)
        return known

    def _load_writer(self, schema_id: int) -> _Writer:
        try:
            text = self._lookup(schema_id)
        except NotFoundError as error:
            reason = f"schema id {schema_id} is not in the registry: {error.what}"
            return _Writer(None, failure=("unknown_schema", reason))
        try:
            schema = AvroSchema.parse(text, source=f"registry id {schema_id}")
            resolution = plan(schema.record, self.reader.record)
            unread = () if resolution is None else unread_fields(schema.record, self.reader.record)
            return _Writer(schema, resolution, unread=unread)
        except (SchemaError, IncompatibleSchemaError) as error:
            what = error.what if isinstance(error, SchemaError) else str(error)
            reason = f"writer schema id {schema_id} cannot be read as {self.reader.name}: {what}"
            return _Writer(None, failure=("incompatible_schema", reason))

    def _decode_group(
        self,
        writer: _Writer,
        data: varint.U8,
        offsets: I64,
        rows: I64,
        base: int,
        failures: Failures,
    ) -> tuple[pa.Table, I64]:
        """Decode the messages ``rows``, which share one writer schema."""
        assert writer.schema is not None
        schema = writer.schema

        def numpy_path(subset: I64) -> tuple[pa.Table, I64]:
            return self._decode_slices(schema, data, offsets, rows[subset], base, failures)

        every = len(rows) == len(offsets) - 1  # the usual case: slices, not gathers
        starts = (offsets[:-1] if every else offsets[rows]) + HEADER_BYTES
        ends = offsets[1:] if every else offsets[rows + 1]
        native = decode_native.decode_group(
            schema, data, starts, ends, rows + base, self.max_message_bytes, numpy_path
        )
        table, index = native if native is not None else numpy_path(np.arange(len(rows)))
        if writer.resolution is None:
            return table, index
        table, problems = writer.resolution.apply(table)
        return _drop_unresolved(table, index, problems, failures)

    def _decode_slices(
        self,
        schema: AvroSchema,
        data: varint.U8,
        offsets: I64,
        rows: I64,
        base: int,
        failures: Failures,
    ) -> tuple[pa.Table, I64]:
        """Decode the messages ``rows`` with the NumPy path, in slices of ROWS_PER_SLICE."""
        words = varint.word_view(data)
        tables = []
        kept = []
        for first in range(0, len(rows), ROWS_PER_SLICE):
            chunk = rows[first : first + ROWS_PER_SLICE]
            start = offsets[chunk] + HEADER_BYTES
            end = offsets[chunk + 1]
            buf, slice_words = data, words
            if int(end.max()) + varint.PADDING > len(data):
                # readers look up to PADDING bytes past a body's end: near the end of
                # the batch they read a padded copy of this slice's bytes instead
                low = int(offsets[chunk].min())
                buf = varint.padded(data[low : int(end.max())])
                slice_words = varint.word_view(buf)
                start, end = start - low, end - low
            bodies = Bodies(buf, slice_words, start, chunk + base, self.max_message_bytes, failures)
            ok = np.ones(len(chunk), dtype=np.bool_)
            cur = Cursors(bodies, start.copy(), end, np.arange(len(chunk)), ok)
            tables.append(_decode_slice(schema, cur))
            kept.append((chunk[cur.ok] if cur.any_failed else chunk) + base)
        return pa.concat_tables(tables), np.concatenate(kept)


def _decode_slice(schema: AvroSchema, cur: Cursors) -> pa.Table:
    """The records of one slice that decode, as a table of the schema's columns."""
    table = pa.Table.from_arrays(read_fields(schema.record, cur), schema=schema.arrow_schema)
    last_field = schema.record.fields[-1].name
    cur.fail(
        cur.pos != cur.end,
        "trailing_bytes",
        lambda i: (
            f"{byte_count(int(cur.end[i] - cur.pos[i]))} left after the last field "
            f"'{last_field}' {cur.at(i)}"
        ),
    )
    return _keep(table, cur.ok) if cur.any_failed else table


#: Up to this many failed records in a slice, good rows are kept by slicing around them.
_FEW_FAILURES = 64


def _keep(table: pa.Table, ok: NDArray[np.bool_]) -> pa.Table:
    """The rows of ``table`` where ``ok``.

    A few failures are cut around with zero-copy slices (filtering a list column copies
    it, which costs more than decoding it); many are filtered out.
    """
    failed = np.flatnonzero(~ok)
    if len(failed) > _FEW_FAILURES:
        return table.filter(pa.array(ok))
    starts = np.concatenate([[0], failed + 1])
    ends = np.concatenate([failed, [len(ok)]])
    runs = [table.slice(s, e - s) for s, e in zip(starts, ends, strict=True) if e > s]
    return pa.concat_tables(runs) if runs else table.slice(0, 0)


def _drop_unresolved(
    table: pa.Table, index: I64, problems: list[Problem], failures: Failures
) -> tuple[pa.Table, I64]:
    """Fail the rows whose values could not be resolved to the reader's schema."""
    if not problems:
        return table, index
    failed = np.zeros(len(index), dtype=np.bool_)
    for rows, kind, texts in problems:
        first_time = ~failed[rows]
        kept_texts = [text for text, first in zip(texts, first_time, strict=True) if first]
        failures.add(index[rows[first_time]], kind, kept_texts)
        failed[rows] = True
    return table.filter(pa.array(~failed)), index[~failed]


def _distinct(ids: NDArray[np.int32]) -> NDArray[np.int32]:
    if len(ids) == 0 or (ids == ids[0]).all():
        return ids[:1]  # nearly every batch has a single schema id: skip the sort
    return np.unique(ids)


def _assemble(
    parts: list[tuple[pa.Table, I64]],
    ids: NDArray[np.int32],
    base: int,
    failures: Failures,
    reader: AvroSchema,
) -> Decoded:
    """One Decoded from the groups of one array, rows back in input order."""
    index_rows, kinds, reasons = failures.merged()
    errors = DecodeErrors(index_rows, kinds, reasons)
    if not parts:
        table = reader.arrow_schema.empty_table()
        return Decoded(table, np.zeros(0, np.int64), np.zeros(0, np.int32), errors)
    table = pa.concat_tables([part[0] for part in parts])
    index = np.concatenate([part[1] for part in parts])
    if len(parts) > 1:
        order = np.argsort(index, kind="stable")
        table = table.take(order)
        index = index[order]
    schema_ids = ids if len(index) == len(ids) else ids[index - base]
    return Decoded(table, index, schema_ids, errors)


def _concat(parts: list[Decoded], reader: AvroSchema) -> Decoded:
    """One Decoded from those of the chunks of a chunked array, in order."""
    if not parts:
        table = reader.arrow_schema.empty_table()
        none = np.zeros(0, np.int64)
        return Decoded(table, none, np.zeros(0, np.int32), DecodeErrors(none, [], []))
    return Decoded(
        pa.concat_tables([part.table for part in parts]),
        np.concatenate([part.index for part in parts]),
        np.concatenate([part.schema_ids for part in parts]),
        DecodeErrors(
            np.concatenate([part.errors.index for part in parts]),
            [kind for part in parts for kind in part.errors.kind],
            [reason for part in parts for reason in part.errors.reason],
        ),
        {i: fields for part in parts for i, fields in part.unread_fields.items()},
    )
