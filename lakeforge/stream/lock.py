"""One runner and one producer per pipeline: exclusive lock files in the state directory.

The lock is an ``flock`` on an open file, so the kernel releases it when the process
dies, even by SIGKILL: a crashed runner never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType

from lakeforge.errors import AlreadyRunningError
from lakeforge.spec.model import Pipeline


class PipelineLock:
    """Hold ``path`` exclusively for as long as this object is entered."""

    def __init__(self, path: Path, what: str) -> None:
        self.path = path
        self.what = what
        self._fd: int | None = None

    def __enter__(self) -> PipelineLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise AlreadyRunningError(
                f"{self.what} is already running (process {holder} holds {self.path})",
                "stop that process first, or wait for it to finish",
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def runner_lock(pipeline: Pipeline) -> AbstractContextManager[object]:
    """What keeps a second stream runner of ``pipeline`` from starting, where it must.

    The local profile allows one runner. In the cluster profile runners scale out: they
    share the partitions through a consumer group, and the tables' positions fence them.
    """
    if pipeline.profile == "cluster":
        return contextlib.nullcontext()
    what = f"the stream runner of {pipeline.name!r}"
    return PipelineLock(pipeline.state_path / "runner.lock", what)
