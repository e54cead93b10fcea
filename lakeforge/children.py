"""Processes lakeforge starts (producer, transforms, Superset): stopping them politely."""

from __future__ import annotations

import subprocess


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
