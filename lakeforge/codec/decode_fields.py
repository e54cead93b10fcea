"""Decode one field of every record per step, into an Arrow column.

Each reader takes :class:`~lakeforge.codec.cursors.Cursors` positioned at the field in
every record, consumes the field's bytes, advances the cursors, and returns an Arrow
array with one value per cursor. Records found malformed are failed with a reason and
hold a placeholder value; the caller filters them out at the end.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from lakeforge.codec.cursors import Cursors
from lakeforge.codec.decode_arrays import read_array
from lakeforge.codec.decode_scalars import (
    build_bytes,
    read_enum,
    read_fixed,
    read_fixed_width,
    read_integer,
    read_ranges,
    read_varint,
)
from lakeforge.codec.types import (
    Array,
    AvroType,
    Enum,
    Fixed,
    Nullable,
    Primitive,
    Record,
    arrow_field,
    arrow_type,
)


def read_fields(record: Record, cur: Cursors, prefix: str = "") -> list[pa.Array]:
    """Read every field of ``record`` in order; one column per field."""
    return [read_value(f.type, cur, f"{prefix}{f.name}") for f in record.fields]


def read_value(node: AvroType, cur: Cursors, path: str) -> pa.Array:
    """Read one value of ``node`` at every cursor; ``path`` names the field in reasons."""
    if isinstance(node, Primitive):
        if node.kind in ("string", "bytes"):
            starts, sizes = read_ranges(cur, path)
            return build_bytes(node.kind == "string", starts, sizes, cur, None, path)
        if node.kind in ("int", "long"):
            return read_integer(node, cur, path)
        return read_fixed_width(node, cur, path)
    if isinstance(node, Enum):
        return read_enum(node, cur, path)
    if isinstance(node, Fixed):
        return read_fixed(node, cur, path)
    if isinstance(node, Nullable):
        return _read_nullable(node, cur, path)
    if isinstance(node, Array):
        return read_array(node, cur, path, read_value)
    children = read_fields(node, cur, f"{path}.")
    fields = [arrow_field(f.name, f.type) for f in node.fields]
    return pa.StructArray.from_arrays(children, fields=fields)


def _read_nullable(node: Nullable, cur: Cursors, path: str) -> pa.Array:
    branch, lengths = read_varint(cur, path, "union branch ")
    cur.fail(
        (branch != 0) & (branch != 1),
        "bad_union",
        lambda i: f"field '{path}' has union branch {branch[i]}, the union has 2 {cur.at(i)}",
    )
    cur.advance(lengths)
    has_value = cur.ok & (branch == node.value_branch)
    if np.array_equal(has_value, cur.ok):
        # no live record is null: read the values in place, no nulls to weave in
        return read_value(node.inner, cur, path)
    rows = np.flatnonzero(has_value)
    if rows.size == 0:
        return pa.nulls(len(cur), type=arrow_type(node))
    sub = cur.subset(rows)
    values = read_value(node.inner, sub, path)
    cur.merge(rows, sub)
    slots = np.cumsum(has_value) - 1
    return values.take(pa.array(slots, mask=~has_value))
