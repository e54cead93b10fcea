"""The native fast path of the decoder: flat record schemas decoded by a C extension.

:func:`compile_program` turns a writer schema whose fields are all flat (primitives with
or without logical types, enums, fixed, ``[null, T]`` unions of those, and arrays of
them) into a program for :mod:`lakeforge.codec._native`; other schemas give None and
are decoded by the NumPy path alone. :func:`decode_group` runs the program over the
messages of one writer schema: the extension validates each record as the NumPy path
does and only marks the ones that fail; those (normally none) are then decoded by the
NumPy path, which finds why they fail (or decides to keep them), so the result is the
same with or without the extension.

Set the environment variable ``LAKEFORGE_NATIVE_DECODE=0`` to turn the native path off.
When the extension was not built (no C compiler at install time) the NumPy path is used
without a word; :func:`available` tells which.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pyarrow as pa

from lakeforge.codec.schema import AvroSchema
from lakeforge.codec.switches import switched_on
from lakeforge.codec.types import (
    MILLIS_TIMESTAMPS,
    Array,
    AvroType,
    Enum,
    Fixed,
    Nullable,
    Primitive,
    Record,
    arrow_type,
)
from lakeforge.codec.varint import I64, U8

try:
    from lakeforge.codec import _native
except ImportError as error:  # built without a C compiler: the NumPy path does it all
    _native = None  # type: ignore[assignment]
    logging.getLogger(__name__).debug("native Avro decoder unavailable: %s", error)

#: The environment variable that turns the native path off when set to "0".
SWITCH = "LAKEFORGE_NATIVE_DECODE"

#: Most body bytes per native call, so every string and list offset fits in an int32.
MAX_CALL_BYTES = 1 << 30

# value kinds of the program, as _native.c numbers them
_KINDS = {"boolean": 0, "int": 1, "long": 2, "float": 4, "double": 5, "string": 6, "bytes": 7}
_LONG_MILLIS, _ENUM, _FIXED = 3, 8, 9


@dataclass(frozen=True)
class Program:
    """A compiled flat record schema: four int64 words per field for the extension."""

    record: Record
    #: kind, value branch (-1: not nullable), is array, argument (symbols or size).
    code: bytes


def available() -> bool:
    """Whether the C extension was built and imports."""
    return _native is not None


def enabled() -> bool:
    """Whether the native path is used: built, and not switched off by the environment."""
    return _native is not None and switched_on(SWITCH)


@lru_cache(maxsize=256)
def compile_program(record: Record) -> Program | None:
    """The program that decodes ``record``, or None if it has a field native cannot read."""
    words: list[int] = []
    for field in record.fields:
        node, branch, is_array = field.type, -1, 0
        if isinstance(field.type, Nullable):
            node, branch = field.type.inner, field.type.value_branch
        elif isinstance(field.type, Array):
            node, is_array = field.type.items, 1
        op = _scalar_op(node)
        if op is None or (is_array and isinstance(node, Fixed) and node.size == 0):
            return None  # an array of empty fixed is left to the NumPy path as it is
        words += [op[0], branch, is_array, op[1]]
    if not words:
        return None
    return Program(record, np.array(words, dtype=np.int64).tobytes())


def _scalar_op(node: AvroType) -> tuple[int, int] | None:
    """(kind, argument) of a scalar type, or None for any other type."""
    if isinstance(node, Primitive):
        if node.kind == "long" and node.logical in MILLIS_TIMESTAMPS:
            return _LONG_MILLIS, 0
        return _KINDS[node.kind], 0
    if isinstance(node, Enum):
        return (_ENUM, len(node.symbols)) if node.symbols else None
    if isinstance(node, Fixed):
        return _FIXED, node.size
    return None


def decode_group(
    schema: AvroSchema,
    data: U8,
    starts: I64,
    ends: I64,
    positions: I64,
    max_bytes: int,
    fallback: Callable[[I64], tuple[pa.Table, I64]],
) -> tuple[pa.Table, I64] | None:
    """Decode the bodies ``data[starts[i]:ends[i]]`` of one writer schema natively.

    Returns the table of the records that decode and their input ``positions``, in
    input order; or None when the native path is off or cannot read the schema.
    ``fallback(rows)`` decodes the records ``rows`` (indexes into ``starts``) with the
    NumPy path, which reports why they fail; it is called only for records the
    extension refused.
    """
    program = compile_program(schema.record) if enabled() else None
    if program is None:
        return None
    tables, oks = [], []
    for first, last in _calls(starts, ends):
        part = slice(first, last)
        table, ok = _decode_call(program, schema, data, starts[part], ends[part], max_bytes)
        tables.append(table)
        oks.append(ok)
    ok = oks[0] if len(oks) == 1 else np.concatenate(oks)
    table = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
    if ok.all():
        return table, positions
    index = positions[ok]
    rescued, rescued_index = fallback(np.flatnonzero(~ok))
    if len(rescued_index) == 0:
        return table, index
    # the NumPy path kept a record the extension refused: weave it back in input order
    table = pa.concat_tables([table, rescued])
    index = np.concatenate([index, rescued_index])
    order = np.argsort(index, kind="stable")
    return table.take(order), index[order]


def _calls(starts: I64, ends: I64) -> list[tuple[int, int]]:
    """Row ranges of at most :data:`MAX_CALL_BYTES` body bytes each (a body is smaller)."""
    if len(starts) == 0 or int(ends[-1]) - int(starts[0]) <= MAX_CALL_BYTES:
        return [(0, len(starts))]  # bodies in input order: the span bounds their bytes
    sizes = np.cumsum(ends - starts)
    ranges, first = [], 0
    while first < len(starts):
        done = int(sizes[first - 1]) if first else 0
        last = int(np.searchsorted(sizes, done + MAX_CALL_BYTES, side="right"))
        last = max(last, first + 1)
        ranges.append((first, last))
        first = last
    return ranges


def _decode_call(
    program: Program, schema: AvroSchema, data: U8, starts: I64, ends: I64, max_bytes: int
) -> tuple[pa.Table, np.ndarray[Any, np.dtype[np.bool_]]]:
    """One native call: the table of the records that decode, and which did."""
    assert _native is not None
    ok_buffer, kept, columns = _native.decode(
        program.code,
        data,
        np.ascontiguousarray(starts, dtype=np.int64),
        np.ascontiguousarray(ends, dtype=np.int64),
        max_bytes,
    )
    ok = np.frombuffer(memoryview(ok_buffer), dtype=np.bool_)
    arrays = [
        _column(field.type, kept, buffers)
        for field, buffers in zip(program.record.fields, columns, strict=True)
    ]
    return pa.Table.from_arrays(arrays, schema=schema.arrow_schema), ok


def _column(node: AvroType, kept: int, buffers: tuple[Any, ...]) -> pa.Array:
    """The Arrow column of one field from the buffers the extension filled."""
    valid, lists, values, data, count = buffers
    if isinstance(node, Array):
        items = _values(node.items, count, None, values, data)
        offsets = pa.py_buffer(lists)
        return pa.Array.from_buffers(arrow_type(node), kept, [None, offsets], children=[items])
    inner = node.inner if isinstance(node, Nullable) else node
    return _values(inner, count, valid, values, data)


def _values(node: AvroType, count: int, valid: Any, values: Any, data: Any) -> pa.Array:
    """A flat Arrow array of ``count`` values of a scalar type."""
    validity = None if valid is None else pa.py_buffer(valid)
    if isinstance(node, Enum):
        # the column holds the symbols, as the NumPy path's take of the symbol list does
        indexes = pa.Array.from_buffers(pa.int32(), count, [validity, pa.py_buffer(values)])
        return _symbols(node.symbols).take(indexes)
    buffers = [validity, pa.py_buffer(values)]
    if data is not None:
        buffers.append(pa.py_buffer(data))
    return pa.Array.from_buffers(arrow_type(node), count, buffers)


@lru_cache(maxsize=256)
def _symbols(symbols: tuple[str, ...]) -> pa.Array:
    return pa.array(symbols, type=pa.string())
