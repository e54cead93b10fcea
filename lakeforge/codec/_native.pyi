"""Type stub of the C extension :mod:`lakeforge.codec._native` (see ``_native.c``)."""

from typing import Any

import numpy as np
from typing_extensions import Buffer

class NativeBuffer(Buffer):
    """Read-only bytes filled by the native decoder (buffer protocol only)."""

    def __buffer__(self, flags: int, /) -> memoryview: ...

#: Per field: validity, list offsets, values, data (each None when absent), value count.
ColumnBuffers = tuple[
    NativeBuffer | None, NativeBuffer | None, NativeBuffer, NativeBuffer | None, int
]

#: Contiguous bytes: the program, the message data, the int64 body starts and ends.
Input = bytes | np.ndarray[Any, Any]

def decode(
    program: Input, data: Input, starts: Input, ends: Input, max_bytes: int, /
) -> tuple[NativeBuffer, int, list[ColumnBuffers]]:
    """Decode the Avro bodies ``data[starts[i]:ends[i]]``: (ok bytes, kept, columns)."""
