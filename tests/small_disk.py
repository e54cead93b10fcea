"""A small filesystem of a test's own, and a way to fill it: real out-of-space errors.

Mounting a tmpfs needs root, which CI has; elsewhere the tests that need one skip.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHUNK = b"\0" * (1 << 20)


@contextmanager
def mounted(folder: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` (as ``mount -o size=`` takes it) at ``folder``, for the block."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small filesystem needs root (CI runs as root)")
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def fill(folder: Path, leave: int = 0) -> Path:
    """Write a file in ``folder`` until the filesystem has no byte left, then free ``leave``.

    tmpfs counts whole pages, so ``leave`` frees whole pages too (it is rounded down).
    """
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as out:
        try:
            while True:
                out.write(CHUNK)
        except OSError:
            pass
        try:
            while True:  # the last megabyte, in small pieces
                out.write(b"\0" * 4096)
        except OSError:
            pass
    if leave:
        os.truncate(filler, max(0, filler.stat().st_size - leave))
    return filler
