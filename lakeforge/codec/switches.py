"""Turning the native fast paths of the codec on and off.

Each path reads its environment variable (``LAKEFORGE_NATIVE_DECODE``,
``LAKEFORGE_NATIVE_ENCODE``) at every call, so a process can compare both paths on the
same data, as the tests and benchmarks do.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def native_path(switch: str, on: bool) -> Iterator[None]:
    """The native path whose environment variable is ``switch``, on or off in the block."""
    old = os.environ.get(switch)
    os.environ[switch] = "1" if on else "0"
    try:
        yield
    finally:
        if old is None:
            del os.environ[switch]
        else:
            os.environ[switch] = old
