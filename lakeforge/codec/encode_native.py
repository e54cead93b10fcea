"""The native fast path of the encoder: flat record schemas encoded by a C extension.

:func:`encode` handles the schemas the native decoder handles (primitives with or
without logical types, enums, fixed, ``[null, T]`` unions of those, and arrays of them:
see :func:`lakeforge.codec.decode_native.compile_program`) and columns in the forms a
producer gives: plain arrays of the field's own Arrow type, string or binary
dictionaries with int8/16/32 indices, lists, with or without nulls, sliced or not.

It never reports an error itself: whenever a column is of another form, or holds
anything the NumPy encoder would refuse (a null in a non-nullable field, an integer out
of range, an unknown enum symbol, a fixed value of the wrong size) or might read
differently, it returns None and :func:`lakeforge.codec.encode.encode` runs the NumPy
encoder, which gives the result or the error. The C extension only lays out columns
checked here; it returns None too when an index of a (hostile) Arrow array is out of
range or the output would pass 2 GiB, with the same fallback.

Set the environment variable ``LAKEFORGE_NATIVE_ENCODE=0`` to turn the native path off.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakeforge.codec.decode_native import compile_program
from lakeforge.codec.encode_fields import LOGICAL_RAW
from lakeforge.codec.schema import AvroSchema
from lakeforge.codec.switches import switched_on
from lakeforge.codec.types import Array, AvroType, Enum, Fixed, Nullable, Primitive, Record

try:
    from lakeforge.codec import _native_encode
except ImportError as error:  # built without a C compiler: the NumPy path does it all
    _native_encode = None  # type: ignore[assignment]
    logging.getLogger(__name__).debug("native Avro encoder unavailable: %s", error)

#: The environment variable that turns the native path off when set to "0".
SWITCH = "LAKEFORGE_NATIVE_ENCODE"

# value kinds, as _native_encode.c numbers them (an enum is written as its int index)
_BOOLEAN, _INT, _LONG, _FLOAT, _DOUBLE, _BYTES, _FIXED = range(7)
_PRIMITIVE_KINDS = {
    "boolean": _BOOLEAN,
    "int": _INT,
    "long": _LONG,
    "float": _FLOAT,
    "double": _DOUBLE,
    "string": _BYTES,
    "bytes": _BYTES,
}
_WIDTHS = {_BOOLEAN: np.uint8, _INT: np.int32, _LONG: np.int64, _FLOAT: np.uint32}
_INDEX_WIDTHS = {pa.int8(): 1, pa.int16(): 2, pa.int32(): 4}
_EMPTY = np.zeros(8, dtype=np.uint8)

#: (valid, lists, indices, index width, values, offsets): one field's buffers for C.
Column = tuple[Any, Any, Any, int, Any, Any]


def available() -> bool:
    """Whether the C extension was built and imports."""
    return _native_encode is not None


def enabled() -> bool:
    """Whether the native path is used: built, and not switched off by the environment."""
    return _native_encode is not None and switched_on(SWITCH)


def encode(
    table: pa.Table | pa.RecordBatch, schema: AvroSchema, prefix: bytes
) -> pa.BinaryArray | None:
    """``prefix`` and the Avro body of each row, as the NumPy encoder writes them.

    None when the native path is off or leaves this table to the NumPy encoder.
    """
    if not enabled():
        return None
    program = _program(schema.record)
    if program is None:
        return None
    names = table.column_names
    columns = []
    for field in schema.record.fields:
        if names.count(field.name) != 1:
            return None  # missing or ambiguous: the NumPy encoder says what it does
        column = table.column(field.name)
        if isinstance(column, pa.ChunkedArray):
            if column.num_chunks != 1:
                return None
            column = column.chunk(0)
        prepared = _field(field.type, column)
        if prepared is None:
            return None
        columns.append(prepared)
    assert _native_encode is not None
    written = _native_encode.encode(program, columns, table.num_rows, prefix)
    if written is None:
        return None
    offsets, values = written
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(values)]
    return pa.Array.from_buffers(pa.binary(), table.num_rows, buffers)


@lru_cache(maxsize=256)
def _program(record: Record) -> bytes | None:
    """Four int64 per field (kind, nullable, null first, is array), or None."""
    if compile_program(record) is None:
        return None
    words: list[int] = []
    for field in record.fields:
        node, nullable, null_first, is_array = field.type, 0, 0, 0
        if isinstance(field.type, Nullable):
            node, nullable, null_first = field.type.inner, 1, int(field.type.null_first)
        if isinstance(node, Array):
            node, is_array = node.items, 1
        words += [_kind(node), nullable, null_first, is_array]
    return np.array(words, dtype=np.int64).tobytes()


def _kind(node: AvroType) -> int:
    if isinstance(node, Primitive):
        return _PRIMITIVE_KINDS[node.kind]
    return _INT if isinstance(node, Enum) else _FIXED


def _field(node: AvroType, array: pa.Array) -> Column | None:
    """The buffers of one field's column, or None to leave the table to NumPy."""
    valid = None
    if isinstance(node, Nullable):
        node = node.inner
        if array.null_count:
            bitmap = array.buffers()[0]
            if bitmap is None:
                return None  # nulls without a bitmap (a null-typed column)
            valid = _bits(bitmap, array.offset, len(array))
    elif array.null_count:
        return None
    if not isinstance(node, Array):
        return _scalars(node, array, valid, None)
    if valid is not None or not pa.types.is_list(array.type):
        return None
    offsets = _slice(array.buffers()[1], np.int32, array.offset, len(array) + 1)
    first, last = int(offsets[0]), int(offsets[-1])
    if not 0 <= first <= last <= len(array.values):
        return None
    items = array.values.slice(first, last - first)
    if items.null_count:
        return None
    return _scalars(node.items, items, None, offsets - np.int32(first))


def _scalars(node: AvroType, array: pa.Array, valid: Any, lists: Any) -> Column | None:
    """The buffers of a column of scalars (rows, or array items with ``lists``)."""
    if pa.types.is_dictionary(array.type):
        width = _INDEX_WIDTHS.get(array.type.index_type)
        if width is None or array.dictionary.null_count or isinstance(node, Fixed):
            return None
        values = _values(node, array.dictionary)
        if values is None:
            return None
        indices = array.indices
        dtype = np.dtype(f"int{8 * width}")
        index_data = _slice(indices.buffers()[1], dtype, indices.offset, len(indices))
        return valid, lists, index_data, width, values[0], values[1]
    values = _values(node, array, valid)
    if values is None:
        return None
    return valid, lists, None, 1, values[0], values[1]


def _values(node: AvroType, array: pa.Array, valid: Any = None) -> tuple[Any, Any] | None:
    """(values, string offsets or None) of a plain column of scalars, or None."""
    type_ = array.type
    if isinstance(node, Enum):
        if not pa.types.is_string(type_):
            return None
        index = pc.index_in(array, value_set=_symbols(node.symbols))
        if index.null_count != array.null_count:
            return None  # an unknown symbol: the NumPy encoder decides
        return _slice(index.buffers()[1], np.int32, index.offset, len(index)), None
    if isinstance(node, Fixed):
        return _fixed(node, array, valid)
    assert isinstance(node, Primitive)
    kind = _PRIMITIVE_KINDS[node.kind]
    if kind == _BYTES:
        if not (pa.types.is_string(type_) or (node.kind == "bytes" and pa.types.is_binary(type_))):
            return None
        return _strings(array)
    if kind == _BOOLEAN:
        if not pa.types.is_boolean(type_):
            return None
        return _bits(array.buffers()[1], array.offset, len(array)), None
    if kind in (_INT, _LONG):
        array = _integers(node, array)
        if array is None:
            return None
    elif type_ != (pa.float32() if kind == _FLOAT else pa.float64()):
        return None
    dtype = _WIDTHS.get(kind, np.float64)
    return _slice(array.buffers()[1], dtype, array.offset, len(array)), None


def _integers(node: Primitive, array: pa.Array) -> pa.Array | None:
    """An int32 (int) or int64 (long) column as the NumPy encoder reads it, or None."""
    base = pa.int32() if node.kind == "int" else pa.int64()
    if node.logical is not None and not pa.types.is_integer(array.type):
        # only the exact raw type: any other cast is left to the NumPy encoder
        return array.view(base) if array.type == LOGICAL_RAW[node.logical] else None
    if not pa.types.is_integer(array.type):
        return None
    if array.type == base:
        return array
    try:
        return array.cast(base)  # the same safe cast the NumPy encoder does
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _strings(array: pa.Array) -> tuple[Any, Any]:
    """(data bytes, int32 offsets into them) of a string or binary column."""
    _, offsets, data = array.buffers()
    return _bytes(data), _slice(offsets, np.int32, array.offset, len(array) + 1)


def _fixed(node: Fixed, array: pa.Array, valid: Any) -> tuple[Any, Any] | None:
    """(data bytes, int32 offsets) of a fixed column, or None if any size is wrong."""
    type_ = array.type
    if pa.types.is_fixed_size_binary(type_):
        if type_.byte_width != node.size or len(array) * node.size >= 2**31:
            return None
        offsets = np.arange(len(array) + 1, dtype=np.int32) * np.int32(node.size)
        start = array.offset * node.size
        return _bytes(array.buffers()[1])[start:], offsets
    if not (pa.types.is_binary(type_) or pa.types.is_string(type_)):
        return None
    data, offsets = _strings(array)
    lengths = np.diff(offsets)
    if valid is not None:
        lengths = lengths[valid.view(np.bool_)]
    if (lengths != node.size).any():
        return None
    return data, offsets


def _slice(buffer: pa.Buffer | None, dtype: Any, offset: int, length: int) -> Any:
    """``length`` values of ``dtype`` from ``offset`` in an Arrow buffer, aligned."""
    if buffer is None:
        return np.zeros(length, dtype=dtype)
    whole = np.frombuffer(buffer, dtype=dtype, count=buffer.size // np.dtype(dtype).itemsize)
    # a short (hostile) buffer gives fewer values: the extension then declines the call
    return _aligned(whole[offset : offset + length])


def _bits(buffer: pa.Buffer | None, offset: int, length: int) -> Any:
    """``length`` bits from bit ``offset`` of an Arrow bitmap, one uint8 (0 or 1) each."""
    if buffer is None:
        return np.zeros(length, dtype=np.uint8)
    bits = np.unpackbits(np.frombuffer(buffer, dtype=np.uint8), bitorder="little")
    return bits[offset : offset + length]


def _bytes(buffer: pa.Buffer | None) -> Any:
    """The bytes of an Arrow data buffer (never an empty or missing one, for C)."""
    if buffer is None or buffer.size == 0:
        return _EMPTY
    return np.frombuffer(buffer, dtype=np.uint8)


def _aligned(values: Any) -> Any:
    """``values``, copied when its start is not aligned to its item size (C needs that)."""
    return values if values.ctypes.data % values.itemsize == 0 else values.copy()


@lru_cache(maxsize=256)
def _symbols(symbols: tuple[str, ...]) -> pa.Array:
    return pa.array(symbols, type=pa.string())
