"""Decode scalar values (numbers, strings, enums, fixed) at every cursor at once.

The building blocks of :mod:`lakeforge.codec.decode_fields`: each reader consumes one
value per cursor, fails the cursors whose bytes are malformed with a precise reason, and
advances the rest.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from lakeforge.codec import varint
from lakeforge.codec.buffers import binary_array, copy_ranges, gather_ranges
from lakeforge.codec.cursors import Cursors
from lakeforge.codec.types import MILLIS_TIMESTAMPS, Enum, Fixed, Primitive, arrow_type
from lakeforge.codec.varint import I64

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_MILLIS_LIMIT = (2**63 - 1) // 1000
_WIDTHS = {"boolean": 1, "float": 4, "double": 8}


def read_varint(cur: Cursors, path: str, what: str = "") -> tuple[I64, I64 | int]:
    """Read a zigzag varint at every cursor without advancing: (values, lengths)."""
    values, lengths = varint.read(cur.buf, cur.words, cur.pos)
    too_long = not isinstance(lengths, int) and lengths.max(initial=0) == varint.TOO_LONG
    # a varint with no end in 10 bytes is too long, unless the body ends first
    past_end: NDArray[np.bool_] = (
        cur.pos + (np.minimum(lengths, 10) if too_long else lengths) > cur.end
    )
    cur.fail(
        past_end,
        "truncated",
        lambda i: f"field '{path}' {what}varint runs past the end {cur.at(i)}",
    )
    if too_long and not isinstance(lengths, int):
        cur.fail(
            lengths == varint.TOO_LONG,
            "bad_varint",
            lambda i: f"field '{path}' {what}varint is longer than 10 bytes {cur.at(i)}",
        )
    return values, lengths


def read_fixed_width(node: Primitive, cur: Cursors, path: str) -> pa.Array:
    """Read a boolean, float or double at every cursor."""
    width = _WIDTHS[node.kind]
    cur.check_room(width, path)
    if node.kind == "boolean":
        # fastavro and Java read any non-zero byte as true
        values: np.ndarray = cur.buf[cur.pos] != 0
    elif node.kind == "float":
        low = varint.load_words(cur.words, cur.pos) & np.uint64(0xFFFFFFFF)
        values = low.astype(np.uint32).view(np.float32)
    else:
        values = varint.load_words(cur.words, cur.pos).view(np.float64)
    cur.advance(width)
    return pa.array(values)


def read_integer(node: Primitive, cur: Cursors, path: str) -> pa.Array:
    """Read an int or long (maybe a timestamp, date or time) at every cursor."""
    values, lengths = read_varint(cur, path)
    if node.kind == "int":
        cur.fail(
            (values < _INT32_MIN) | (values > _INT32_MAX),
            "bad_varint",
            lambda i: f"field '{path}' has {values[i]}, which does not fit in an int {cur.at(i)}",
        )
    elif node.logical in MILLIS_TIMESTAMPS:
        cur.fail(
            (values > _MILLIS_LIMIT) | (values < -_MILLIS_LIMIT),
            "bad_varint",
            lambda i: f"field '{path}' has {values[i]} ms, out of the timestamp range {cur.at(i)}",
        )
        values = values * 1000
    cur.advance(lengths)
    column = pa.array(values.astype(np.int32) if node.kind == "int" else values)
    target = arrow_type(node)
    return column if column.type == target else column.view(target)


def read_ranges(cur: Cursors, path: str) -> tuple[I64, I64]:
    """Skip a length-prefixed string or bytes at every cursor: where each lies, and its size.

    The bytes are not copied here, so array items can be copied once, in final order.
    """
    sizes, lengths = read_varint(cur, path, "length ")
    cur.fail(
        (sizes < 0) | (sizes > cur.bodies.max_bytes),
        "bad_length",
        lambda i: f"field '{path}' has length {sizes[i]} {cur.at(i)}",
    )
    cur.advance(lengths)
    cur.check_room(sizes, path)
    if cur.any_failed:
        sizes = np.where(cur.ok, sizes, 0)
    starts = cur.pos.copy()
    cur.advance(sizes)
    return starts, sizes


def build_bytes(
    is_string: bool,
    starts: I64,
    sizes: I64,
    cur: Cursors,
    item_offsets: I64 | None,
    path: str,
) -> pa.Array:
    """Copy byte ranges into a string or binary column; fail cursors with bad UTF-8.

    Range ``k`` belongs to cursor ``k``, or with ``item_offsets`` (array items laid out
    end to end) to the cursor ``i`` with ``item_offsets[i] <= k < item_offsets[i + 1]``.
    """
    column, offsets, data = copy_ranges(cur.buf, cur.words, starts, sizes)
    if is_string:
        column = column.view(pa.string())
    # ASCII is valid UTF-8, and one pass over the bytes is much cheaper than validating
    if not is_string or data.max(initial=0) < 0x80 or _is_utf8(column):
        return column
    bad = np.array(_invalid_rows(column, 0), dtype=np.int64)
    owners = bad if item_offsets is None else np.searchsorted(item_offsets, bad, "right") - 1
    first_bad = dict(zip(owners[::-1].tolist(), bad[::-1].tolist(), strict=True))
    mask = np.zeros(len(cur), dtype=np.bool_)
    mask[owners] = True

    def reason(i: int) -> str:
        k = first_bad[i]
        raw = data[offsets[k] : offsets[k + 1]].tobytes()
        error = _utf8_error(raw)
        where = cur.offset(i, int(starts[k]) + error.start)
        byte = raw[error.start]
        return f"field '{path}' has invalid UTF-8 (byte 0x{byte:02x}) at body byte {where}"

    cur.fail(mask, "bad_utf8", reason)
    return column


def _is_utf8(column: pa.Array) -> bool:
    try:
        column.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _invalid_rows(column: pa.Array, base: int) -> list[int]:
    """Rows with invalid UTF-8, found by halving: few checks when few rows are bad."""
    if len(column) <= 8:
        return [base + i for i in range(len(column)) if not _is_utf8(column.slice(i, 1))]
    half = len(column) // 2
    rows = []
    for offset, part in ((0, column.slice(0, half)), (half, column.slice(half))):
        if not _is_utf8(part):
            rows.extend(_invalid_rows(part, base + offset))
    return rows


def _utf8_error(raw: bytes) -> UnicodeDecodeError:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return error
    raise AssertionError("Arrow and Python disagree on UTF-8")  # pragma: no cover


@lru_cache(maxsize=256)
def _symbols(symbols: tuple[str, ...]) -> pa.Array:
    return pa.array(symbols, type=pa.string())


def read_enum(node: Enum, cur: Cursors, path: str) -> pa.Array:
    """Read an enum symbol index at every cursor; the column holds the symbols."""
    index, lengths = read_varint(cur, path, "symbol index ")
    count = len(node.symbols)
    cur.fail(
        (index < 0) | (index >= count),
        "bad_enum",
        lambda i: (
            f"field '{path}' has symbol index {index[i]}, enum {node.name} has {count} "
            f"symbols {cur.at(i)}"
        ),
    )
    cur.advance(lengths)
    if cur.any_failed:
        index = np.where(cur.ok, index, 0)
    return _symbols(node.symbols).take(index)


def read_fixed(node: Fixed, cur: Cursors, path: str) -> pa.Array:
    """Read a fixed-size byte string at every cursor."""
    cur.check_room(node.size, path)
    sizes = np.where(cur.ok, node.size, 0) if cur.any_failed else np.full(len(cur), node.size)
    offsets, data = gather_ranges(cur.buf, cur.pos, sizes)
    cur.advance(node.size)
    return binary_array(pa.binary(), offsets, data)
