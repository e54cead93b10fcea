"""Encode one Arrow column into its part of every Avro body.

Encoding is two passes over each column. :func:`field_part` checks the column against
its Avro type and computes the encoded size of every value (the record sizes, and so
every field's position in the output, follow by cumulative sums); then ``write`` puts
every value's bytes at its position in one output buffer. No step loops over records.

Values whose encoding fits in 8 bytes (short strings, enum indexes) are packed one
word per value and written with one 8-byte store each. A dictionary-encoded column is
encoded once per distinct value, then each row picks its value's word.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakeforge.codec import varint
from lakeforge.codec.buffers import binary_parts, put_ranges, put_words
from lakeforge.codec.columns import cast_column, is_list, missing_column, wrong_type
from lakeforge.codec.encode_packed import PackedPart, packed_bytes
from lakeforge.codec.types import (
    Array,
    AvroType,
    Enum,
    Fixed,
    Nullable,
    Primitive,
    Record,
    describe,
)
from lakeforge.codec.varint import I64, U8, U64, Words
from lakeforge.errors import SchemaError


class Part(Protocol):
    """The encoded form of one column: a size per value, and a way to write them."""

    #: Encoded bytes of each value.
    sizes: I64

    def write(self, out: U8, out_words: Words, pos: I64, ends: I64 | None) -> None:
        """Write value ``i`` at ``out[pos[i]:pos[i] + sizes[i]]``.

        ``ends[i]`` is where value ``i``'s record ends, when the fields of each record
        are written in order (bytes a value writes past its own end are then
        overwritten by the values after it); None when they are not (array items).
        """


@dataclass
class VarintPart:
    """Zigzag varints (int, long, enum index, count, union branch)."""

    first: U64
    second: U64 | None
    sizes: I64
    #: The size of every varint when they all have the same, else 0.
    uniform: int

    @classmethod
    def of(cls, values: I64, signed: bool = True) -> VarintPart:
        """Varints of values; ``signed=False`` promises none is negative (lengths, counts)."""
        values = values.astype(np.int64, copy=False)
        # zigzag of a value that is not negative is just twice it
        raw = varint.zigzag_encode(values) if signed else (values << 1).view(np.uint64)
        # a varint's length grows with its value: when the least and the greatest
        # have the same, all have it (ids and times often do), and per-value lengths
        # need not be worked out
        bounds = varint.lengths_of(np.array([raw.min(), raw.max()])) if len(raw) else None
        if bounds is not None and bounds[0] == bounds[1]:
            uniform = longest = int(bounds[0])
            sizes = np.full(len(raw), longest, dtype=np.int64)
        else:
            sizes = varint.lengths_of(raw)
            longest = int(sizes.max(initial=1))
            uniform = longest if int(sizes.min(initial=1)) == longest else 0
        first, second = varint.encode(raw, sizes, longest, uniform)
        return cls(first, second, sizes, uniform)

    def write(self, out: U8, out_words: Words, pos: I64, ends: I64 | None) -> None:
        """Write each varint at its position."""
        if self.uniform == 1:
            out[pos] = self.first.astype(np.uint8)
        elif 1 < self.uniform <= 8:
            put_words(out, out_words, pos, self.first, self.uniform, ends)
        else:
            put_words(out, out_words, pos, self.first, np.minimum(self.sizes, 8), ends)
            if self.second is not None:
                rows = np.flatnonzero(self.sizes > 8)
                rest = self.sizes[rows] - 8
                tail_ends = None if ends is None else ends[rows]
                put_words(out, out_words, pos[rows] + 8, self.second[rows], rest, tail_ends)


@dataclass
class WordPart:
    """Values of a fixed width up to 8 bytes (boolean, float, double)."""

    words: U64
    width: int
    sizes: I64

    def write(self, out: U8, out_words: Words, pos: I64, ends: I64 | None) -> None:
        """Write the low ``width`` bytes of each word."""
        if self.width == 1:
            out[pos] = self.words.astype(np.uint8)
        else:
            put_words(out, out_words, pos, self.words, self.width, ends)


@dataclass
class BytesPart:
    """Byte strings, with a length varint first (string, bytes) or not (fixed)."""

    offsets: I64
    data: U8
    length: VarintPart | None
    sizes: I64

    def write(self, out: U8, out_words: Words, pos: I64, ends: I64 | None) -> None:
        """Write each length, then each byte string."""
        if self.length is not None:
            self.length.write(out, out_words, pos, ends)
            pos = pos + self.length.sizes
        put_ranges(out, pos, self.data, self.offsets, ends)


@dataclass
class NullablePart:
    """A union of null and a type: the branch index, then the value where there is one."""

    branch: U8
    rows: I64
    value: Part
    sizes: I64

    def write(self, out: U8, out_words: Words, pos: I64, ends: I64 | None) -> None:
        """Write each branch index (one byte), then the values."""
        out[pos] = self.branch
        value_ends = None if ends is None else ends[self.rows]
        self.value.write(out, out_words, pos[self.rows] + 1, value_ends)


@dataclass
class ArrayPart:
    """Arrays as one block: item count (absent when empty), the items, then a 0."""

    counts: VarintPart
    #: The arrays that have items: all of them (a slice), or their indexes.
    nonempty: I64 | slice
    items: Part
    #: Items per array; None when every array has exactly one.
    item_counts: I64 | None
    #: Where each array's first item starts relative to the array's start, less where
    #: it starts among all items laid end to end; and where each item starts there.
    item_shift: I64
    item_offsets: I64
    #: Whether no array has more than one item.
    single_items: bool
    sizes: I64

    @classmethod
    def of(cls, offsets: I64, items: Part) -> ArrayPart:
        """Arrays cut from ``items`` at ``offsets`` (one more than there are arrays)."""
        counts = np.diff(offsets)
        longest = int(counts.max(initial=0))
        found = np.flatnonzero(counts)
        every = len(found) == len(counts)
        # when every array has items, a slice picks them all without a copy
        nonempty: I64 | slice = slice(None) if every else found
        count_part = VarintPart.of(counts[nonempty], signed=False)
        count_sizes = np.zeros(len(counts), dtype=np.int64)
        count_sizes[nonempty] = count_part.sizes
        item_ends = np.zeros(len(items.sizes) + 1, dtype=np.int64)
        np.cumsum(items.sizes, out=item_ends[1:])
        array_items = item_ends[offsets]
        # count, items, and the 0 that ends every array (the only byte of an empty one)
        sizes = count_sizes + np.diff(array_items) + 1
        shift = count_sizes - array_items[:-1]
        item_counts = None if every and longest == 1 else counts
        return cls(
            count_part, nonempty, items, item_counts, shift, item_ends[:-1], longest <= 1, sizes
        )

    def write(self, out: U8, out_words: Words, pos: I64, ends: I64 | None) -> None:
        """Write each count, each item, then the 0 that ends each array."""
        count_ends = None if ends is None else ends[self.nonempty]
        self.counts.write(out, out_words, pos[self.nonempty], count_ends)
        # the items of all arrays are written at once, not in record order
        item_pos = pos + self.item_shift
        if self.item_counts is not None:
            item_pos = np.repeat(item_pos, self.item_counts)
        item_pos += self.item_offsets
        # Whole words may spill past an item only onto bytes written after it: not so
        # for an item followed by another of its array, written in the same call.
        self.items.write(out, out_words, item_pos, count_ends if self.single_items else None)
        # written last, as whole-word writes before it may have put bytes here
        out[pos + self.sizes - 1] = 0


@dataclass
class RecordPart:
    """A record's fields, one after another."""

    fields: list[Part]
    sizes: I64

    @classmethod
    def of(cls, fields: list[Part], rows: int) -> RecordPart:
        """``rows`` records of ``fields``, each record's size the sum of its fields'."""
        sizes = np.zeros(rows, dtype=np.int64)
        for part in fields:
            sizes += part.sizes
        return cls(fields, sizes)

    def write(self, out: U8, out_words: Words, pos: I64, ends: I64 | None) -> None:
        """Write each field after the previous one."""
        for part in self.fields:
            part.write(out, out_words, pos, ends)
            pos = pos + part.sizes


def field_part(node: AvroType, array: pa.Array, path: str) -> Part:
    """Check ``array`` against the Avro type ``node`` and size its encoding.

    Raises :class:`~lakeforge.errors.SchemaError` naming the column ``path`` when the
    column's type does not fit, or it holds nulls, enum symbols or fixed sizes that the
    schema does not allow.
    """
    if isinstance(node, Nullable):
        return _nullable_part(node, array, path)
    if array.null_count:
        raise SchemaError(
            f"column '{path}' has {array.null_count} nulls, but its Avro type "
            f"{describe(node)} is not nullable",
            hint='fill the nulls, or make the field nullable: ["null", T]',
        )
    if pa.types.is_dictionary(array.type) and isinstance(node, Primitive | Enum):
        picked = _dictionary_part(node, array, path)
        if picked is not None:
            return picked
    if isinstance(node, Primitive):
        return _primitive_part(node, array, path)
    if isinstance(node, Enum):
        return _enum_part(node, array, path)
    if isinstance(node, Fixed):
        return _fixed_part(node, array, path)
    if isinstance(node, Array):
        return _array_part(node, array, path)
    return _record_part(node, array, path)


def _nullable_part(node: Nullable, array: pa.Array, path: str) -> Part:
    if array.null_count == 0:
        valid = np.ones(len(array), dtype=np.bool_)
        values = array
    else:
        valid = array.is_valid().to_numpy(zero_copy_only=False)
        values = array.filter(pa.array(valid))
    value = field_part(node.inner, values, path)
    rows = np.flatnonzero(valid)
    # one-byte zigzag union index: branch 0 is byte 0, branch 1 is byte 2
    value_byte, null_byte = (2, 0) if node.null_first else (0, 2)
    branch = np.where(valid, value_byte, null_byte).astype(np.uint8)
    sizes = np.ones(len(array), dtype=np.int64)
    sizes[rows] += value.sizes
    return NullablePart(branch, rows, value, sizes)


def _primitive_part(node: Primitive, array: pa.Array, path: str) -> Part:
    kind = node.kind
    if kind in ("int", "long"):
        return VarintPart.of(_integers(node, array, path))
    if kind in ("string", "bytes"):
        target = pa.string() if kind == "string" else pa.binary()
        offsets, data = binary_parts(cast_column(array, target, node, path))
        packed = packed_bytes(offsets, data)
        if packed is not None:
            return packed
        length = VarintPart.of(np.diff(offsets), signed=False)
        return BytesPart(offsets, data, length, length.sizes + np.diff(offsets))
    target = {"boolean": pa.bool_(), "float": pa.float32(), "double": pa.float64()}[kind]
    values = cast_column(array, target, node, path).to_numpy(zero_copy_only=False)
    if kind == "boolean":
        return WordPart(values.astype(np.uint64), 1, np.ones(len(values), dtype=np.int64))
    width = values.dtype.itemsize
    words = values.view(np.uint32 if width == 4 else np.uint64).astype(np.uint64)
    return WordPart(words, width, np.full(len(values), width, dtype=np.int64))


def _dictionary_part(node: Primitive | Enum, array: pa.DictionaryArray, path: str) -> Part | None:
    """Each row's value picked from its dictionary's encoded values, or None.

    None (encode the decoded column instead) when the dictionary is larger than the
    column, a value takes more than 8 bytes, or the dictionary holds a value that does
    not fit: decoding then reports, or ignores when unused, exactly what it would
    without a dictionary.
    """
    if len(array.dictionary) > len(array):
        return None
    try:
        values = field_part(node, array.dictionary, path)
    except SchemaError:
        return None
    if isinstance(values, PackedPart):
        words = values.words
    elif isinstance(values, VarintPart) and values.second is None:
        words = values.first
    elif isinstance(values, WordPart):
        words = values.words
    else:
        return None
    indices = array.indices.to_numpy(zero_copy_only=False).astype(np.intp, copy=False)
    longest = int(values.sizes.max(initial=1))
    if int(values.sizes.min(initial=1)) == longest:
        return PackedPart(words[indices], np.full(len(indices), longest), longest)
    return PackedPart.of(words[indices], values.sizes[indices])


#: The Arrow type a logical column is cast to before its integers are taken.
LOGICAL_RAW = {
    "timestamp-micros": pa.timestamp("us", tz="UTC"),
    "timestamp-millis": pa.timestamp("ms", tz="UTC"),
    "local-timestamp-micros": pa.timestamp("us"),
    "local-timestamp-millis": pa.timestamp("ms"),
    "date": pa.date32(),
    "time-millis": pa.time32("ms"),
    "time-micros": pa.time64("us"),
}


def _integers(node: Primitive, array: pa.Array, path: str) -> I64:
    """The Avro integers of an int or long column: logical values in Avro's units."""
    base = pa.int32() if node.kind == "int" else pa.int64()
    if node.logical is not None and not pa.types.is_integer(array.type):
        integers = cast_column(array, LOGICAL_RAW[node.logical], node, path).view(base)
    else:
        # integer columns are taken as the values Avro writes (millis for timestamp-millis)
        integers = cast_column(array, base, node, path)
    values: I64 = integers.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    return values


def _enum_part(node: Enum, array: pa.Array, path: str) -> Part:
    strings = cast_column(array, pa.string(), node, path)
    index = pc.index_in(strings, value_set=pa.array(node.symbols, type=pa.string()))
    if index.null_count:
        unknown = strings.filter(index.is_null())[0].as_py()
        raise SchemaError(
            f"column '{path}' has {unknown!r}, which is not a symbol of enum {node.name}",
            hint=f"use one of {', '.join(node.symbols)}",
        )
    return VarintPart.of(index.to_numpy(zero_copy_only=False), signed=False)


def _fixed_part(node: Fixed, array: pa.Array, path: str) -> Part:
    offsets, data = binary_parts(cast_column(array, pa.binary(), node, path))
    wrong = np.flatnonzero(np.diff(offsets) != node.size)
    if wrong.size:
        raise SchemaError(
            f"column '{path}' has a value of {np.diff(offsets)[wrong[0]]} bytes at row "
            f"{wrong[0]}, but fixed {node.name} has {node.size}"
        )
    return BytesPart(offsets, data, None, np.full(len(array), node.size, dtype=np.int64))


def _array_part(node: Array, array: pa.Array, path: str) -> Part:
    if not is_list(array.type):
        raise wrong_type(array, node, path)
    if pa.types.is_fixed_size_list(array.type):
        array = array.cast(pa.list_(array.type.value_field))
    offsets = array.offsets.to_numpy().astype(np.int64)
    items = field_part(node.items, array.flatten(), f"{path}[]")
    return ArrayPart.of(offsets - offsets[0], items)


def _record_part(node: Record, array: pa.Array, path: str) -> Part:
    if not pa.types.is_struct(array.type):
        raise wrong_type(array, node, path)
    children = dict(zip((f.name for f in array.type), array.flatten(), strict=True))
    parts = []
    for field in node.fields:
        field_path = f"{path}.{field.name}"
        column = children.get(field.name)
        if column is None:
            column = missing_column(field.type, len(array), field_path)
        parts.append(field_part(field.type, column, field_path))
    return RecordPart.of(parts, len(array))
