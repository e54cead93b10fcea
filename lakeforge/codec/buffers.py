"""Moving many byte ranges at once between numpy buffers and Arrow binary arrays.

The encoder writes each field of every record at a computed position in one output
buffer; the decoder copies each string of every record out of the message buffer. Both
are done with index arithmetic over all records, never a loop over records.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from lakeforge.codec.varint import I64, U8, U64, Words, load_words, store_words, word_view

_BYTE = np.uint64(0xFF)


def range_indexes(starts: I64, lengths: I64) -> tuple[I64, I64]:
    """Offsets of the ranges laid end to end, and the index of every byte of every range.

    ``offsets`` has one more entry than ``starts``; ``indexes[offsets[i]:offsets[i+1]]``
    is ``starts[i], starts[i] + 1, ...``.
    """
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    total = int(offsets[-1])
    indexes = np.repeat(starts - offsets[:-1], lengths)
    indexes += np.arange(total, dtype=np.int64)
    return offsets, indexes


def gather_ranges(buf: U8, starts: I64, lengths: I64) -> tuple[I64, U8]:
    """Copy the byte range ``starts[i], starts[i] + lengths[i]`` of each record together."""
    offsets, indexes = range_indexes(starts, lengths)
    return offsets, buf[indexes]


def copy_ranges(buf: U8, words: Words, starts: I64, sizes: I64) -> tuple[pa.Array, I64, U8]:
    """A binary array of the byte ranges of ``buf``, with its offsets and data bytes.

    Short ranges are gathered byte by byte with numpy; longer ones (more than 4 bytes
    on average) are described to Arrow as a binary view array over ``buf``, which Arrow
    copies with one memcpy per range: three to four times faster for such ranges.
    """
    if len(sizes) == 0 or int(sizes.sum()) <= 4 * len(sizes) or len(buf) >= 2**31:
        offsets, data = gather_ranges(buf, starts, sizes)
        return binary_array(pa.binary(), offsets, data), offsets, data
    # a view is 16 bytes: the length, then the first 4 bytes, then either the next 8
    # (ranges of up to 12 bytes are stored inline) or the offset of the range in buf
    first = load_words(words, starts)
    views = np.empty((len(sizes), 2), dtype=np.uint64)
    views[:, 0] = sizes.astype(np.uint64) | (first << np.uint64(32))
    inline = first >> np.uint64(32)
    if int(sizes.max()) > 8:
        inline |= load_words(words, starts + 8) << np.uint64(32)
        inline = np.where(sizes <= 12, inline, starts.astype(np.uint64) << np.uint64(32))
    views[:, 1] = inline
    buffers = [None, pa.py_buffer(views), pa.py_buffer(buf)]
    array = pa.Array.from_buffers(pa.binary_view(), len(sizes), buffers).cast(pa.binary())
    offsets, data = binary_parts(array)
    return array, offsets, data


def binary_array(type_: pa.DataType, offsets: I64, data: U8) -> pa.Array:
    """An Arrow binary or string array over ``data`` cut at ``offsets`` (no validation)."""
    return pa.Array.from_buffers(
        type_,
        len(offsets) - 1,
        [None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data)],
    )


def binary_parts(array: pa.Array) -> tuple[I64, U8]:
    """The offsets (n + 1, relative to ``data``) and data bytes of a binary/string array.

    Null entries have empty ranges in arrays built by pyarrow, which is all callers need.
    """
    _, offsets_buffer, data_buffer = array.buffers()
    width = (
        np.int64
        if pa.types.is_large_binary(array.type) or pa.types.is_large_string(array.type)
        else np.int32
    )
    offsets = np.frombuffer(offsets_buffer, dtype=width)[
        array.offset : array.offset + len(array) + 1
    ]
    data = (
        np.frombuffer(data_buffer, dtype=np.uint8)
        if data_buffer is not None
        else np.zeros(0, dtype=np.uint8)
    )
    return offsets.astype(np.int64), data


def put_ranges(
    out: U8, dest_starts: I64, src: U8, src_offsets: I64, ends: I64 | None = None
) -> None:
    """Copy the i-th range of ``src`` (cut at ``src_offsets``) to ``dest_starts[i]``.

    With ``ends`` (see :func:`put_words`) ranges of up to 8 bytes are copied as 8-byte
    words; otherwise byte by byte.
    """
    lengths = np.diff(src_offsets)
    longest = int(lengths.max(initial=0))
    if longest == 0:
        return
    first, last = int(src_offsets[0]), int(src_offsets[-1])
    if longest <= 8 and _room_for_words(dest_starts, ends):
        # the source is read 8 bytes at a time, so it needs padding past its last range
        source = np.zeros(last - first + 8, dtype=np.uint8)
        source[: last - first] = src[first:last]
        words = load_words(word_view(source), src_offsets[:-1] - first)
        store_words(word_view(out), dest_starts, words)
        return
    _, indexes = range_indexes(dest_starts, lengths)
    out[indexes] = src[first:last]


def put_words(
    out: U8, out_words: Words, pos: I64, words: U64, nbytes: I64 | int, ends: I64 | None = None
) -> None:
    """Write the low ``nbytes`` bytes (0 to 8) of each word at its position.

    ``ends``, when given, is where each value's record ends, and promises that the
    rest of each record is written after this call: a value at least 8 bytes before
    its record's end is then stored as a whole word, whose extra bytes the rest of the
    record overwrites. Otherwise bytes past ``nbytes`` are kept: with an 8-byte
    read-modify-write per value when no two positions are closer than 8 bytes, else
    one write per byte plane.
    """
    if len(pos) == 0:
        return
    if (isinstance(nbytes, int) and nbytes == 8) or _room_for_words(pos, ends):
        store_words(out_words, pos, words)
        return
    if len(pos) == 1 or np.diff(pos).min() >= 8:
        keep = _LOW_BYTES[nbytes] if isinstance(nbytes, int) else _LOW_BYTES.take(nbytes)
        kept = np.bitwise_and(load_words(out_words, pos), np.invert(keep))
        store_words(out_words, pos, np.bitwise_or(kept, np.bitwise_and(words, keep)))
        return
    sizes = np.broadcast_to(np.asarray(nbytes, dtype=np.int64), pos.shape)
    for plane in range(int(sizes.max())):
        rows = np.flatnonzero(sizes > plane) if plane else slice(None)
        out[pos[rows] + plane] = ((words[rows] >> np.uint64(8 * plane)) & _BYTE).astype(np.uint8)


def _room_for_words(pos: I64, ends: I64 | None) -> bool:
    """Whether a whole 8-byte word fits between every position and its record's end."""
    return ends is not None and bool((ends - pos >= 8).all())


#: The mask of the low k bytes of a 64-bit word, for k = 0 to 8.
_LOW_BYTES = np.array([(1 << 8 * k) - 1 for k in range(9)], dtype=np.uint64)
