"""Turning the native fast paths of the codec on and off.

Each path reads its environment variable (``LAKEFORGE_NATIVE_DECODE``,
``LAKEFORGE_NATIVE_ENCODE``) at every call, so a process can compare both paths on the
same data, as the tests and benchmarks do.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from lakeforge.errors import ConfigError


def switched_on(switch: str) -> bool:
    """Whether the environment variable ``switch`` leaves its native path on.

    Unset or "1": on (the default); "0": off. Any other value is refused, so that a
    "false" or "off" meant to turn the path off is not silently taken as on.
    """
    value = os.environ.get(switch, "1")
    if value not in ("0", "1"):
        raise ConfigError(
            f"environment variable {switch}={value!r} is neither 0 nor 1",
            f"set {switch}=0 to use the NumPy path alone, or unset it (or 1) for the native path",
        )
    return value == "1"


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
