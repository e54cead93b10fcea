"""Encode Arrow tables as Avro bodies, and frame bodies for the bus, column by column.

:func:`encode` gives one Avro binary body per row in canonical form (zigzag varints,
each array as one block then 0, an empty array as a single 0); :func:`frame` puts the
Confluent header (magic byte 0, big-endian schema id) in front of each body.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakeforge.codec import encode_native, varint
from lakeforge.codec.buffers import binary_array, put_words
from lakeforge.codec.columns import missing_column
from lakeforge.codec.encode_fields import RecordPart, field_part
from lakeforge.codec.schema import AvroSchema

#: Most rows encoded together in one pass (the working arrays stay in the CPU cache).
ROWS_PER_SLICE = 32768

_MAX_SCHEMA_ID = 2**31 - 1


def encode(
    table: pa.Table | pa.RecordBatch, schema: AvroSchema, prefix: bytes = b""
) -> pa.BinaryArray:
    """One Avro binary body per row of ``table``, written with ``schema``.

    ``prefix`` is written before every body in the same pass; with
    :func:`confluent_header` that gives framed messages without a second copy.

    Columns are matched to fields by name; columns the schema does not name are
    ignored, and a missing nullable column is taken as all null. A missing column of a
    non-nullable field, a column whose type does not fit its field, a null in a
    non-nullable field or an unknown enum symbol raise
    :class:`~lakeforge.errors.SchemaError` naming the column.

    The C extension of :mod:`lakeforge.codec.encode_native` writes the same bytes when
    it is built and can take the table; this NumPy path is the reference and the fallback.
    """
    native = encode_native.encode(table, schema, prefix)
    if native is not None:
        return native
    columns = []
    for field in schema.record.fields:
        if field.name in table.column_names:
            column = table.column(field.name)
            if isinstance(column, pa.ChunkedArray):
                # one chunk is taken as it is; combining would copy it
                column = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
        else:
            column = missing_column(field.type, table.num_rows, field.name)
        columns.append(column)
    slices = []
    rows = table.num_rows
    # As few slices as ROWS_PER_SLICE allows, of equal length (ceiling divisions): a
    # short last slice would cost as many numpy calls as a full one, for few rows.
    slice_count = -(-rows // ROWS_PER_SLICE)
    per_slice = -(-rows // slice_count) if rows else 1
    for first in range(0, rows, per_slice):
        length = min(per_slice, rows - first)
        parts = [
            field_part(field.type, column.slice(first, length), field.name)
            for field, column in zip(schema.record.fields, columns, strict=True)
        ]
        slices.append(_write(RecordPart.of(parts, length), prefix))
    if not slices:
        return pa.array([], type=pa.binary())
    return slices[0] if len(slices) == 1 else pa.concat_arrays(slices)


def _write(record: RecordPart, prefix: bytes) -> pa.BinaryArray:
    """Lay the records out end to end and write every field at its place."""
    offsets = np.zeros(len(record.sizes) + 1, dtype=np.int64)
    np.cumsum(record.sizes + len(prefix), out=offsets[1:])
    total = int(offsets[-1])
    # every byte is written below; zeros only make a mistake there harmless
    out = np.zeros(total + varint.PADDING, dtype=np.uint8)
    starts = offsets[:-1]
    words = varint.word_view(out)
    # the prefix goes 8 bytes at a time, each piece the same word in every record; the
    # bodies written after it overwrite what a whole-word store puts past its end
    for at in range(0, len(prefix), 8):
        piece = prefix[at : at + 8]
        word = np.full(len(starts), int.from_bytes(piece, "little"), dtype=np.uint64)
        put_words(out, words, starts + at, word, len(piece), offsets[1:])
    record.write(out, words, starts + len(prefix), offsets[1:])
    return binary_array(pa.binary(), offsets, out[:total])


def confluent_header(schema_id: int) -> bytes:
    """The 5-byte Confluent header: magic byte 0, then ``schema_id`` big-endian."""
    if not 0 <= schema_id <= _MAX_SCHEMA_ID:
        raise ValueError(f"schema id {schema_id} is outside 0..{_MAX_SCHEMA_ID}")
    return b"\x00" + schema_id.to_bytes(4, "big")


def frame(schema_id: int, bodies: pa.BinaryArray) -> pa.BinaryArray:
    """Prefix each body with the Confluent header: byte 0, then ``schema_id`` big-endian."""
    header = pa.scalar(confluent_header(schema_id), type=pa.binary())
    joined = pc.binary_join_element_wise(header, bodies, pa.scalar(b"", type=pa.binary()))
    return joined.cast(pa.binary()) if joined.type != pa.binary() else joined
