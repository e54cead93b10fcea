"""Processes lakeforge starts (producer, transforms, Superset): watching and stopping them."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


def stop_process(process: subprocess.Popen[bytes] | subprocess.Popen[str], timeout: float) -> None:
    """Ask ``process`` (one we started) to stop with SIGTERM; SIGKILL it after ``timeout``.

    Returns once it has exited. A process that already exited is left alone.
    """
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


#: A child that ran this long before it exited starts again after the first pause.
STEADY_SECONDS = 60.0


class Supervisor:
    """The processes ``lakeforge run`` keeps beside its runner, restarted when one exits.

    A child that exits by itself (a crash, a bug, the OOM killer) is reported, with its
    exit code, and started again after a pause that doubles while it keeps failing
    (``first_pause`` up to ``max_pause``), so that one failing part never stops the
    stream and never spins.
    """

    def __init__(
        self,
        report: Callable[[str], None],
        *,
        first_pause: float = 5.0,
        max_pause: float = 60.0,
        check_every: float = 1.0,
    ) -> None:
        self._report = report
        self._first_pause = first_pause
        self._max_pause = max_pause
        self._check_every = check_every
        self._children: dict[str, _Child] = {}
        self._stopping = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="supervisor", daemon=True)

    def start(self, name: str, launch: Callable[[], subprocess.Popen[bytes]]) -> None:
        """Start ``launch()`` now as the child called ``name``, and watch it from then on."""
        self._children[name] = _Child(launch, launch(), time.monotonic(), self._first_pause)
        if not self._watcher.is_alive():
            self._watcher.start()

    def process(self, name: str) -> subprocess.Popen[bytes]:
        """The current process of child ``name`` (a new one after each restart)."""
        return self._children[name].process

    def stop(self, timeout: float) -> None:
        """Stop watching, then stop every child (see :func:`stop_process`)."""
        self._stopping.set()
        if self._watcher.is_alive():
            self._watcher.join()
        for child in self._children.values():
            stop_process(child.process, timeout)

    def _watch(self) -> None:
        while not self._stopping.wait(self._check_every):
            now = time.monotonic()
            # A copy: start() may add a child meanwhile.
            for name, child in list(self._children.items()):
                code = child.process.poll()
                if code is None or now < child.restart_at:
                    continue
                if child.restart_at == 0.0:  # just noticed: report once, then wait
                    if now - child.started >= STEADY_SECONDS:
                        child.pause = self._first_pause
                    self._report(
                        f"the {name} process exited with code {code}; "
                        f"starting it again in {child.pause:g}s"
                    )
                    child.restart_at = now + child.pause
                    continue
                child.pause = min(child.pause * 2, self._max_pause)
                try:
                    child.process = child.launch()
                except OSError as e:  # e.g. too many processes: try again after the pause
                    self._report(f"could not start the {name} process again: {e}")
                    child.restart_at = now + child.pause
                    continue
                child.started, child.restart_at = now, 0.0


@dataclass
class _Child:
    launch: Callable[[], subprocess.Popen[bytes]]
    process: subprocess.Popen[bytes]
    started: float
    pause: float
    #: When an exited child starts again; 0.0 while it runs.
    restart_at: float = 0.0
