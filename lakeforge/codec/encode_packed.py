"""Encoded values of up to 8 bytes, packed one little-endian word per value.

Most values of a trade encode to a few bytes: an enum index, a short symbol with its
length. Packed into one word each, they are written with one 8-byte store per value
instead of a copy of each value's bytes (see :mod:`lakeforge.codec.encode_fields`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lakeforge.codec.buffers import put_words
from lakeforge.codec.varint import I64, U8, U64, Words, load_words, word_view


@dataclass
class PackedPart:
    """Values of up to 8 encoded bytes each, packed one little-endian word per value."""

    words: U64
    sizes: I64
    #: The size of every value when they all have the same, else 0.
    uniform: int

    @classmethod
    def of(cls, words: U64, sizes: I64) -> PackedPart:
        """Values whose encoded bytes are the low ``sizes[i]`` bytes of ``words[i]``."""
        longest = int(sizes.max(initial=1))
        return cls(words, sizes, longest if int(sizes.min(initial=1)) == longest else 0)

    def write(self, out: U8, out_words: Words, pos: I64, ends: I64 | None) -> None:
        """Write each value's bytes at its position."""
        if self.uniform == 1:
            out[pos] = self.words.astype(np.uint8)
        else:
            put_words(out, out_words, pos, self.words, self.uniform or self.sizes, ends)


#: The longest string packed into one word: its length varint (one byte) comes first.
_PACKED_BYTES = 7


def packed_bytes(offsets: I64, data: U8) -> PackedPart | None:
    """Strings of up to 7 bytes as one word each (length varint, then the bytes), or None."""
    lengths = np.diff(offsets)
    if int(lengths.max(initial=0)) > _PACKED_BYTES:
        return None
    first, last = int(offsets[0]), int(offsets[-1])
    # read 8 bytes at every string's start, so the source needs padding past its end
    source = np.zeros(last - first + 8, dtype=np.uint8)
    source[: last - first] = data[first:last]
    loaded = load_words(word_view(source), offsets[:-1] - first)
    # the bytes past each string are the next strings' (or padding); clear them
    loaded &= _LOW_BYTES.take(lengths)
    # a length below 64 is one varint byte: its zigzag is twice it
    words = (loaded << np.uint64(8)) | (lengths.astype(np.uint64) << np.uint64(1))
    return PackedPart.of(words, lengths + 1)


#: The mask of the low k bytes of a 64-bit word, for k = 0 to 8.
_LOW_BYTES = np.array([(1 << 8 * k) - 1 for k in range(9)], dtype=np.uint64)
