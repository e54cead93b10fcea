"""Run the real ``lakeforge`` command in a subprocess, as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def lakeforge(
    *args: str,
    pipeline: Path | None = None,
    input: bytes | None = None,
    check: bool = True,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run ``lakeforge ARGS`` and return the finished process (text output)."""
    command = [sys.executable, "-m", "lakeforge.cli.main", *args]
    if pipeline is not None:
        command += ["--pipeline", str(pipeline)]
    result = subprocess.run(command, input=input, capture_output=True, timeout=timeout, check=False)
    completed = subprocess.CompletedProcess(
        result.args, result.returncode, result.stdout.decode(), result.stderr.decode()
    )
    if check and completed.returncode != 0:
        raise AssertionError(
            f"lakeforge {' '.join(args)} exited {completed.returncode}\n"
            f"stdout: {completed.stdout}\nstderr: {completed.stderr}"
        )
    return completed


def lakeforge_json(*args: str, pipeline: Path | None = None) -> Any:
    """Run a command with ``--json`` and parse what it prints."""
    return json.loads(lakeforge(*args, "--json", pipeline=pipeline).stdout)


def start(
    *args: str,
    pipeline: Path,
    env: dict[str, str] | None = None,
    output: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``lakeforge ARGS`` in the background (``env`` adds environment variables).

    Its output comes through pipes, to read while it runs; or, with ``output``, goes to
    that file (stdout and stderr together). A process that runs long and that nobody
    reads from should use a file: a full pipe blocks it at its next line of output.
    """
    command = [sys.executable, "-m", "lakeforge.cli.main", *args, "--pipeline", str(pipeline)]
    sink: Any = subprocess.PIPE
    if output is not None:
        sink = output.open("ab")
    try:
        return subprocess.Popen(
            command,
            stdout=sink,
            stderr=subprocess.STDOUT if output is not None else subprocess.PIPE,
            env={**os.environ, **(env or {})},
        )
    finally:
        if output is not None:
            sink.close()  # the child has its own copy
