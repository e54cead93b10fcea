"""Type stub of the C extension :mod:`lakeforge.codec._native_encode` (see its ``.c``)."""

from typing import Any

#: Per field: validity (uint8 per row) or None, list offsets (int32) or None, dictionary
#: indices or None, index width (1, 2 or 4), values, string offsets (int32) or None.
Column = tuple[Any, Any, Any, int, Any, Any]

def encode(
    program: bytes, columns: list[Column], rows: int, prefix: bytes, /
) -> tuple[bytearray, bytearray] | None:
    """Write ``rows`` records, each ``prefix`` then its fields: (int32 offsets, bytes).

    None when an index points outside its buffer or the output passes 2**31 - 1 bytes.
    """
