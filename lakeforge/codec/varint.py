"""Zigzag varints for many values at once, and the byte-buffer tricks under them.

Avro writes int and long as zigzag-encoded base-128 varints. Here every function takes
one value (or one position) per record and works on all of them with a few numpy
operations on 64-bit words: a varint of up to 8 bytes is read with one unaligned 8-byte
gather, its length found from the first byte without a continuation bit, and its 7-bit
groups packed together with three shift-and-mask steps. Varints of 9 and 10 bytes (only
values of 2**56 and more) take a slower second step that touches just those records.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

U8 = NDArray[np.uint8]
U64 = NDArray[np.uint64]
I64 = NDArray[np.int64]
#: 8-byte opaque items at every byte offset of a buffer (see :func:`word_view`).
Words = NDArray[np.void]

#: Bytes after the end of every buffer the readers index into, so that an 8-byte read
#: that starts at the last byte, and the second read of a 10-byte varint, stay inside.
PADDING = 16

#: Returned as a length when no byte among the first ten ends the varint.
TOO_LONG = 11

_CONTINUATION = np.uint64(0x8080808080808080)
_PAYLOAD = np.uint64(0x7F7F7F7F7F7F7F7F)
_ONE = np.uint64(1)
_BYTE = np.uint64(0xFF)
# values below 2**53 convert to float64 exactly, so frexp gives their bit length
_EXACT_FLOAT = np.uint64(1 << 53)
# each step joins neighbouring groups: 7-bit pairs into 14 bits, then 28, then 56
_PACK_STEPS = (
    (np.uint64(0x007F007F007F007F), np.uint64(0x7F007F007F007F00), np.uint64(1)),
    (np.uint64(0x00003FFF00003FFF), np.uint64(0x3FFF00003FFF0000), np.uint64(2)),
    (np.uint64(0x000000000FFFFFFF), np.uint64(0x0FFFFFFF00000000), np.uint64(4)),
)
# for a varint of k bytes (k = 1..8): the continuation bits of its bytes, the ones it
# must have set (all but the last), and its payload bits
_CONTINUATION_MASKS = [np.uint64(0)] + [
    np.uint64(0x8080808080808080 & ((1 << 8 * k) - 1)) for k in range(1, 9)
]
_CONTINUATIONS = [np.uint64(0)] + [
    np.uint64(0x8080808080808080 & ((1 << 8 * (k - 1)) - 1)) for k in range(1, 9)
]
_VALUE_MASKS = [np.uint64(0)] + [
    np.uint64(0x7F7F7F7F7F7F7F7F & ((1 << 8 * k) - 1)) for k in range(1, 9)
]


def padded(data: U8) -> U8:
    """A copy of ``data`` followed by :data:`PADDING` zero bytes."""
    out = np.zeros(len(data) + PADDING, dtype=np.uint8)
    out[: len(data)] = data
    return out


def word_view(buf: U8) -> Words:
    """The 8 bytes that start at each byte of ``buf`` (but the last 7), as one item each.

    A view, not a copy. Its items are opaque 8-byte values, not uint64: numpy gathers
    and scatters those with plain copies, twice as fast as unaligned integers. Use
    :func:`load_words` and :func:`store_words` to read and write them as numbers.
    """
    return np.ndarray((len(buf) - 7,), dtype="V8", buffer=buf, strides=(1,))


def load_words(words: Words, pos: I64) -> U64:
    """The little-endian 8-byte word starting at each position."""
    return words[pos].view("<u8")


def store_words(words: Words, pos: I64, values: U64) -> None:
    """Write each 8-byte little-endian word at its position."""
    words[pos] = values.astype("<u8", copy=False).view("V8")


def zigzag_decode(raw: U64) -> I64:
    """Signed values of zigzag-encoded unsigned ones."""
    sign = raw & _ONE
    np.negative(sign, out=sign)  # 0 or all ones; wraps, as unsigned negation does
    values = raw >> _ONE
    values ^= sign
    return values.view(np.int64)


_ZIGZAG_BYTE = zigzag_decode(np.arange(256, dtype=np.uint64))


def zigzag_encode(values: I64) -> U64:
    """Zigzag-encode signed 64-bit values: small magnitudes become small numbers."""
    return ((values << 1) ^ (values >> 63)).view(np.uint64)


def read(buf: U8, words: Words, pos: I64) -> tuple[I64, I64 | int]:
    """Read the zigzag varint that starts at each position: (values, lengths in bytes).

    The length is one int when every varint has it (often: a column of ids, times,
    string lengths), else one per varint, :data:`TOO_LONG` where none of the first ten
    bytes ends it. Bytes past a record's end are read too: the caller compares
    ``pos + length`` with the end.
    """
    first = buf[pos]
    if first.max(initial=0) < 0x80:
        # every varint is one byte: counts, lengths, enum and union indexes usually are
        return _ZIGZAG_BYTE.take(first), 1
    word = load_words(words, pos)
    uniform = _uniform_length(word)
    if uniform:
        return zigzag_decode(_pack_groups(word & _VALUE_MASKS[uniform])), uniform
    ends = ~word & _CONTINUATION
    # isolate the lowest byte without a continuation bit; keep it and the bytes before
    last = ends & (~ends + _ONE)
    keep = (last << _ONE) - _ONE
    keep &= _PAYLOAD
    word &= keep
    value = _pack_groups(word)
    lengths = ((np.bitwise_count(last - _ONE) + np.uint8(1)) >> np.uint8(3)).astype(np.int64)
    beyond = np.flatnonzero(last == 0)
    if beyond.size:
        _read_long_tail(words, pos, beyond, value, lengths)
    return zigzag_decode(value), lengths


def _uniform_length(word: U64) -> int:
    """The length of every varint, if the first one's length (up to 8) fits them all; or 0."""
    head = int(word[0])
    length = next((k + 1 for k in range(8) if not head >> (8 * k + 7) & 1), 0)
    if length and ((word & _CONTINUATION_MASKS[length]) == _CONTINUATIONS[length]).all():
        return length
    return 0


def _pack_groups(word: U64) -> U64:
    """Pack the 7-bit payload of each byte of ``word`` into one 56-bit number."""
    for keep, move, shift in _PACK_STEPS:
        moved = word & move
        moved >>= shift
        word &= keep
        word |= moved
    return word


def _read_long_tail(words: Words, pos: I64, rows: I64, value: U64, lengths: I64) -> None:
    """Finish the varints of ``rows``, whose first 8 bytes all had continuation bits."""
    tail = load_words(words, pos[rows] + 8)
    ninth = tail & _BYTE
    tenth = (tail >> np.uint64(8)) & _BYTE
    nine = ninth < 0x80
    ten = ~nine & (tenth < 0x80)
    # bits past 64 of a 10-byte varint are dropped, as the Java and C readers do
    high = ((ninth & np.uint64(0x7F)) << np.uint64(56)) | np.where(ten, tenth << np.uint64(63), 0)
    value[rows] |= high.astype(np.uint64)
    lengths[rows] = np.where(nine, 9, np.where(ten, 10, TOO_LONG))


def lengths_of(raw: U64) -> I64:
    """Encoded length in bytes of each unsigned varint value (1 to 10)."""
    largest = raw.max(initial=0)
    if largest < 0x80:
        return np.ones(len(raw), dtype=np.int64)
    if largest < _EXACT_FLOAT:
        # the exponent of a float64 that holds a value exactly is the value's bit length
        exponents = raw.astype(np.float64).view(np.int64) >> 52
        return _LENGTH_BY_EXPONENT.take(exponents)
    bits = 64 - _leading_zeros(raw)
    return _LENGTH_BY_BITS.take(bits)


def _leading_zeros(raw: U64) -> I64:
    smeared = raw.copy()
    for shift in (1, 2, 4, 8, 16, 32):
        smeared |= smeared >> np.uint64(shift)
    return (64 - np.bitwise_count(smeared)).astype(np.int64)


def encode(raw: U64, lengths: I64, longest: int, uniform: int) -> tuple[U64, U64 | None]:
    """The bytes of each varint as little-endian words: bytes 0-7, then bytes 8-9.

    ``lengths`` come from :func:`lengths_of`; ``longest`` is their maximum and
    ``uniform`` their common value (0 when they differ). The second array is None when
    every varint fits in 8 bytes (values below 2**56).
    """
    if longest == 1:
        return raw, None
    groups = raw & np.uint64((1 << 56) - 1) if longest > 8 else raw.copy()
    # spread the 7-bit groups one per byte: 28-bit halves, 14-bit quarters, then bytes;
    # a step is only needed when some value has bits it would move
    for min_length, keep, move, shift in _SPREAD_STEPS:
        if longest >= min_length:
            moved = groups & move
            moved <<= shift
            groups &= keep
            groups |= moved
    # a continuation bit on every byte but the last (all 8 when the varint is longer)
    if uniform:
        groups |= _CONTINUATION_BY_LENGTH[uniform]
    else:
        groups |= _CONTINUATION_BY_LENGTH.take(lengths)
    if longest <= 8:
        return groups, None
    top = raw >> np.uint64(56)
    second = top & np.uint64(0x7F)
    second |= np.where(lengths == 10, np.uint64(0x180), np.uint64(0)).astype(np.uint64)
    return groups, second


_SPREAD_STEPS = (
    (5, np.uint64(0x000000000FFFFFFF), np.uint64(0x00FFFFFFF0000000), np.uint64(4)),
    (3, np.uint64(0x00003FFF00003FFF), np.uint64(0x0FFFC0000FFFC000), np.uint64(2)),
    (2, np.uint64(0x007F007F007F007F), np.uint64(0x3F803F803F803F80), np.uint64(1)),
)
_CONTINUATION_BY_LENGTH = np.array(
    [0]
    + [0x8080808080808080 & ((1 << 8 * (k - 1)) - 1) for k in range(1, 9)]
    + [0x8080808080808080] * 2,
    dtype=np.uint64,
)
_LENGTH_BY_BITS = np.array([1] + [(bits + 6) // 7 for bits in range(1, 65)], dtype=np.int64)
# float64 exponent field (value 0 has field 0; a value of b bits has field 1022 + b)
_LENGTH_BY_EXPONENT = np.ones(2048, dtype=np.int64)
_LENGTH_BY_EXPONENT[1023:1087] = _LENGTH_BY_BITS[1:]
