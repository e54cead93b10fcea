"""Checking an Arrow column against the Avro type it is to be encoded as.

A column may be of a wider Arrow type than the schema's own (int64 for an Avro int,
large_string, a dictionary of strings for an enum): it is cast, safely, when its type is
of the same family. Anything else is a :class:`~lakeforge.errors.SchemaError` that
names the column.
"""

from __future__ import annotations

import pyarrow as pa

from lakeforge.codec.types import AvroType, Nullable, arrow_type, describe
from lakeforge.errors import SchemaError


def missing_column(node: AvroType, length: int, path: str) -> pa.Array:
    """The column of a field the data lacks: all null, or SchemaError if not nullable."""
    if isinstance(node, Nullable):
        return pa.nulls(length, type=arrow_type(node))
    raise SchemaError(
        f"column '{path}' is missing, and its Avro type {describe(node)} is not nullable",
        hint="add the column, or make the field nullable with a null default",
    )


def is_list(type_: pa.DataType) -> bool:
    """Whether a column of this type can hold Avro arrays."""
    return bool(
        pa.types.is_list(type_)
        or pa.types.is_large_list(type_)
        or pa.types.is_fixed_size_list(type_)
    )


def cast_column(array: pa.Array, target: pa.DataType, node: AvroType, path: str) -> pa.Array:
    """``array`` as ``target``, if its type is of the same family; else SchemaError."""
    if not _same_family(array.type, target):
        raise wrong_type(array, node, path)
    if array.type == target:
        return array
    try:
        return array.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        raise SchemaError(
            f"column '{path}' ({array.type}) does not fit its Avro type {describe(node)}: {error}"
        ) from None


def _same_family(source: pa.DataType, target: pa.DataType) -> bool:
    """Whether a column of type ``source`` may be cast to ``target`` for encoding."""
    if pa.types.is_dictionary(source):
        source = source.value_type
    return any(
        fits_target(target) and fits_source(source) for fits_target, fits_source in _FAMILIES
    )


def _is_string(type_: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(type_)
        or pa.types.is_large_string(type_)
        or pa.types.is_string_view(type_)
    )


def _is_binary(type_: pa.DataType) -> bool:
    return bool(
        pa.types.is_binary(type_)
        or pa.types.is_large_binary(type_)
        or pa.types.is_binary_view(type_)
        or pa.types.is_fixed_size_binary(type_)
    )


# (target, source) predicates: integers widen to floats and strings to bytes, not back
_FAMILIES = (
    (pa.types.is_integer, pa.types.is_integer),
    (pa.types.is_floating, lambda t: pa.types.is_floating(t) or pa.types.is_integer(t)),
    (pa.types.is_boolean, pa.types.is_boolean),
    (_is_string, _is_string),
    (_is_binary, lambda t: _is_binary(t) or _is_string(t)),
    (pa.types.is_timestamp, pa.types.is_timestamp),
    (pa.types.is_date, pa.types.is_date),
    (pa.types.is_time, pa.types.is_time),
)


def wrong_type(array: pa.Array, node: AvroType, path: str) -> SchemaError:
    """The error for a column whose type is not of its Avro type's family."""
    return SchemaError(
        f"column '{path}' is {array.type}, which does not fit its Avro type {describe(node)}",
        hint="cast the column to the type the schema's Arrow schema gives",
    )
