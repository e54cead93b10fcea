"""Avro field defaults as Arrow columns.

A reader field that the writer's schema lacks is filled with its default; the schema
parser builds each default once, so a default that does not fit its field is refused when
the schema is read, not when the first message arrives.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa

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


class DefaultError(ValueError):
    """A default value does not fit its field's type; the message says why."""


def default_column(node: AvroType, default_json: str, length: int) -> pa.Array:
    """A column of ``length`` copies of the default ``default_json`` of type ``node``."""
    one = pa.array([_python_value(node, json.loads(default_json))], type=arrow_type(node))
    return one.take(np.zeros(length, dtype=np.int64))


def check_default(node: AvroType, default_json: str) -> None:
    """Raise :class:`DefaultError` when ``default_json`` is not a value of ``node``."""
    try:
        default_column(node, default_json, 1)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError) as error:
        raise DefaultError(f"default {default_json} is not a valid value: {error}") from None


def _python_value(node: AvroType, value: Any) -> Any:
    """The Python value pyarrow turns into ``node``'s Arrow value, from Avro's JSON form."""
    if isinstance(node, Nullable):
        # Avro wants the default of the union's first branch; null is accepted either way
        # because writers commonly give null for [X, "null"] too.
        return None if value is None else _python_value(node.inner, value)
    if value is None:
        raise DefaultError("default null for a field that is not nullable")
    if isinstance(node, Primitive):
        if node.kind in ("bytes",):
            return _latin1(value)
        if node.logical in MILLIS_TIMESTAMPS:
            return _integer(value) * 1000
        if node.kind in ("int", "long"):
            return _integer(value)
        return value
    if isinstance(node, Enum):
        if value not in node.symbols:
            raise DefaultError(f"default {value!r} is not a symbol of enum {node.name}")
        return value
    if isinstance(node, Fixed):
        data = _latin1(value)
        if len(data) != node.size:
            raise DefaultError(f"default has {len(data)} bytes, fixed {node.name} has {node.size}")
        return data
    if isinstance(node, Array):
        if not isinstance(value, list):
            raise DefaultError(f"default {value!r} of an array is not a JSON list")
        return [_python_value(node.items, item) for item in value]
    return _record_value(node, value)


def _record_value(node: Record, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise DefaultError(f"default {value!r} of record {node.name} is not a JSON object")
    result = {}
    for field in node.fields:
        if field.name in value:
            result[field.name] = _python_value(field.type, value[field.name])
        elif field.default_json is not None:
            result[field.name] = _python_value(field.type, json.loads(field.default_json))
        else:
            raise DefaultError(f"default of record {node.name} lacks field '{field.name}'")
    return result


def _integer(value: Any) -> int:
    # JSON has one number type; a default like 1.5 for an int field is a mistake
    if isinstance(value, bool) or not isinstance(value, int):
        raise DefaultError(f"default {value!r} is not an integer")
    return int(value)


def _latin1(value: Any) -> bytes:
    # the Avro spec writes bytes defaults as strings of code points 0-255
    if not isinstance(value, str):
        raise DefaultError(f"default {value!r} of bytes is not a JSON string")
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        raise DefaultError(f"default {value!r} has characters above \\u00ff") from None
