"""The Avro types lakeforge can encode and decode column by column, and their Arrow types.

:mod:`lakeforge.codec.schema` turns schema JSON into a tree of these nodes; the encoder
and the decoder walk the tree. Each node is frozen and compares by value, so two schemas
can be checked for identity by comparing their trees.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import pyarrow as pa

#: Arrow type of each logical type lakeforge understands, keyed by (Avro base, logical).
LOGICAL_ARROW_TYPES: dict[tuple[str, str], pa.DataType] = {
    ("long", "timestamp-micros"): pa.timestamp("us", tz="UTC"),
    ("long", "timestamp-millis"): pa.timestamp("us", tz="UTC"),
    ("long", "local-timestamp-micros"): pa.timestamp("us"),
    ("long", "local-timestamp-millis"): pa.timestamp("us"),
    ("int", "date"): pa.date32(),
    ("int", "time-millis"): pa.time32("ms"),
    ("long", "time-micros"): pa.time64("us"),
}

#: Logical types whose Avro value is in milliseconds while the Arrow column is in micros.
MILLIS_TIMESTAMPS = frozenset({"timestamp-millis", "local-timestamp-millis"})

PRIMITIVE_ARROW_TYPES: dict[str, pa.DataType] = {
    "boolean": pa.bool_(),
    "int": pa.int32(),
    "long": pa.int64(),
    "float": pa.float32(),
    "double": pa.float64(),
    "string": pa.string(),
    "bytes": pa.binary(),
}

#: Encoded size of the primitives whose size does not depend on the value.
FIXED_WIDTHS = {"boolean": 1, "float": 4, "double": 8}


@dataclass(frozen=True)
class Primitive:
    """boolean, int, long, float, double, string or bytes, maybe with a logical type."""

    kind: str
    #: A logical type from :data:`LOGICAL_ARROW_TYPES`, or None (others are ignored).
    logical: str | None = None


@dataclass(frozen=True)
class Enum:
    """An Avro enum; its Arrow column holds the symbols as strings."""

    name: str
    symbols: tuple[str, ...]
    #: The symbol a reader uses for writer symbols it does not know.
    default: str | None = None


@dataclass(frozen=True)
class Fixed:
    """An Avro fixed of ``size`` bytes; its Arrow column is binary."""

    name: str
    size: int


@dataclass(frozen=True)
class Array:
    """An Avro array; its Arrow column is a list."""

    items: AvroType


@dataclass(frozen=True)
class Nullable:
    """A union of null and one other type, in either order."""

    inner: AvroType
    #: True for ``["null", X]`` (branch 0 is null), False for ``[X, "null"]``.
    null_first: bool

    @property
    def value_branch(self) -> int:
        """The union branch index that carries a value."""
        return 1 if self.null_first else 0


@dataclass(frozen=True)
class Field:
    """One field of a record."""

    name: str
    type: AvroType
    #: The field's default as JSON text, or None when it has no default.
    default_json: str | None = None
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Record:
    """An Avro record; nested records become Arrow structs."""

    name: str
    fields: tuple[Field, ...]


AvroType = Primitive | Enum | Fixed | Array | Nullable | Record


@lru_cache(maxsize=1024)
def arrow_type(node: AvroType) -> pa.DataType:
    """The Arrow type of the column that holds values of ``node``."""
    if isinstance(node, Primitive):
        logical = LOGICAL_ARROW_TYPES.get((node.kind, node.logical or ""))
        return logical if logical is not None else PRIMITIVE_ARROW_TYPES[node.kind]
    if isinstance(node, Enum):
        return pa.string()
    if isinstance(node, Fixed):
        return pa.binary()
    if isinstance(node, Array):
        return pa.list_(arrow_field("item", node.items))
    if isinstance(node, Nullable):
        return arrow_type(node.inner)
    return pa.struct([arrow_field(field.name, field.type) for field in node.fields])


def arrow_field(name: str, node: AvroType) -> pa.Field:
    """An Arrow field named ``name``; nullable exactly when the Avro type is."""
    return pa.field(name, arrow_type(node), nullable=isinstance(node, Nullable))


def min_bytes(node: AvroType) -> int:
    """The fewest bytes any value of ``node`` takes; bounds item counts in a body."""
    if isinstance(node, Primitive):
        return FIXED_WIDTHS.get(node.kind, 1)
    if isinstance(node, Fixed):
        return node.size
    if isinstance(node, Record):
        return sum(min_bytes(field.type) for field in node.fields)
    # enums, arrays and unions start with at least one varint byte
    return 1


def describe(node: AvroType) -> str:
    """A short human name for a type, as error messages show it."""
    if isinstance(node, Primitive):
        return node.kind if node.logical is None else f"{node.kind} ({node.logical})"
    if isinstance(node, Enum):
        return f"enum {node.name}"
    if isinstance(node, Fixed):
        return f"fixed {node.name} ({node.size} bytes)"
    if isinstance(node, Array):
        return f"array<{describe(node.items)}>"
    if isinstance(node, Nullable):
        inner = describe(node.inner)
        return f"[null, {inner}]" if node.null_first else f"[{inner}, null]"
    return f"record {node.name}"
