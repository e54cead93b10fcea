"""Decode an Avro array field of every record at once, one item slot at a time.

An Avro array is a series of blocks, each an item count and that many items, closed by
a count of 0; a negative count is followed by the block's size in bytes. Items are read
slot by slot: item 0 of every record that has one, then item 1, and so on, so the
number of steps grows with the longest array of the batch, not with the number of
records. Items are then put in record order to form the list column; strings and bytes
are copied once, already in that order.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa

from lakeforge.codec.cursors import Cursors
from lakeforge.codec.decode_scalars import build_bytes, read_ranges, read_varint
from lakeforge.codec.types import Array, AvroType, Primitive, arrow_type, min_bytes
from lakeforge.codec.varint import I64

#: Reads one value of a type at every cursor (``decode_fields.read_value``).
ItemReader = Callable[[AvroType, Cursors, str], pa.Array]


def read_array(node: Array, cur: Cursors, path: str, read_item: ItemReader) -> pa.Array:
    """Read an array at every cursor; the column is a list per cursor."""
    items = _Items(node, len(cur))
    reading = np.arange(len(cur))  # the cursors whose array has not ended yet
    block = 0
    while reading.size and not (block and _closed(cur, reading)):
        sub = cur if reading.size == len(cur) else cur.subset(reading)
        counts = _read_block_count(node, sub, path)
        for slot in range(int(counts.max(initial=0))):
            rows = np.flatnonzero(sub.ok & (counts > slot))
            if rows.size == 0:
                break
            item_path = f"{path}[{slot}]" if block == 0 else f"{path}[]"
            items_sub = sub if rows.size == len(sub) else sub.subset(rows)
            items.read(items_sub, reading[rows], block == 0, slot, item_path, read_item)
            if items_sub is not sub:
                sub.merge(rows, items_sub)
        if sub is not cur:
            cur.merge(reading, sub)
        reading = reading[sub.ok & (counts > 0)]
        block += 1
    return items.column(cur, path)


def _closed(cur: Cursors, reading: I64) -> bool:
    """Step past the closing 0 of every array in ``reading``, if that is what comes next.

    Nearly every array is one block then 0, so this saves a full count read.
    """
    pos = cur.pos[reading]
    if cur.buf[pos].any() or (pos >= cur.end[reading]).any():
        return False
    cur.pos[reading] = pos + 1
    return True


def _read_block_count(node: Array, cur: Cursors, path: str) -> I64:
    """Read the item count of the next block; negative counts carry a byte size."""
    starts = cur.pos.copy()  # where the block starts, for messages
    counts, lengths = read_varint(cur, path, "item count ")
    cur.advance(lengths)
    sized = np.flatnonzero(cur.ok & (counts < 0))
    if sized.size:
        sub = cur.subset(sized)
        _, size_lengths = read_varint(sub, path, "block size ")
        # the byte size only lets a reader skip a block; the items are read anyway
        sub.advance(size_lengths)
        cur.merge(sized, sub)
        counts = np.abs(counts)  # -2**63 stays negative and fails as a bad length below
    room = min_bytes(node.items)
    cur.fail(
        (counts < 0) | (counts > cur.bodies.max_bytes // room),
        "bad_length",
        lambda i: f"field '{path}' has a block of {counts[i]} items {cur.at(i, starts[i])}",
    )
    left = cur.end - cur.pos
    cur.fail(
        counts > (left if room == 1 else left // room),
        "truncated",
        lambda i: (
            f"field '{path}' needs at least {counts[i] * room} bytes for "
            f"{counts[i]} items {cur.at(i)}"
        ),
    )
    return np.where(cur.ok, counts, 0) if cur.any_failed else counts


class _Items:
    """Items read slot by slot, and where each goes in the list column."""

    def __init__(self, node: Array, length: int) -> None:
        self.node = node
        items = node.items
        # strings and bytes are only located while reading, and copied once at the end
        self.ranges = isinstance(items, Primitive) and items.kind in ("string", "bytes")
        self.taken = np.zeros(length, dtype=np.int64)  # items read so far, per cursor
        self.values: list[pa.Array] = []
        self.starts: list[I64] = []
        self.sizes: list[I64] = []
        self.owners: list[I64] = []
        self.ordinals: list[I64 | int] = []

    def read(
        self, cur: Cursors, owners: I64, first_block: bool, slot: int, path: str, read: ItemReader
    ) -> None:
        """Read the next item at every cursor; ``owners`` are their array cursors."""
        if self.ranges:
            starts, sizes = read_ranges(cur, path)
            self.starts.append(starts)
            self.sizes.append(sizes)
        else:
            self.values.append(read(self.node.items, cur, path))
        self.owners.append(owners)
        # in the first block, item k of every array is in slot k
        self.ordinals.append(slot if first_block else self.taken[owners])
        self.taken[owners] += 1

    def column(self, cur: Cursors, path: str) -> pa.Array:
        """The list column: every cursor's items, in order."""
        offsets = np.zeros(len(self.taken) + 1, dtype=np.int64)
        np.cumsum(self.taken, out=offsets[1:])
        list_type = arrow_type(self.node)
        places = [
            offsets[owners] + ordinals
            for owners, ordinals in zip(self.owners, self.ordinals, strict=True)
        ]
        if not places:
            values = pa.array([], type=list_type.value_type)
        elif self.ranges:
            # ranges go straight to their place; only their bytes are copied, once
            starts = np.empty(int(offsets[-1]), dtype=np.int64)
            sizes = np.empty(int(offsets[-1]), dtype=np.int64)
            for place, piece_starts, piece_sizes in zip(
                places, self.starts, self.sizes, strict=True
            ):
                starts[place] = piece_starts
                sizes[place] = piece_sizes
            is_string = isinstance(self.node.items, Primitive) and self.node.items.kind == "string"
            values = build_bytes(is_string, starts, sizes, cur, offsets, f"{path}[]")
        else:
            values = pa.concat_arrays(self.values)
            order = _order(np.concatenate(places))
            values = values if order is None else values.take(order)
        return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), values, type=list_type)


def _order(destination: I64) -> I64 | None:
    """The permutation that puts items read slot by slot in record order (None: already)."""
    if len(destination) < 2 or bool((destination[1:] > destination[:-1]).all()):
        return None
    order = np.empty(len(destination), dtype=np.int64)
    order[destination] = np.arange(len(destination))
    return order
