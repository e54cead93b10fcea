"""Where the running processes of a pipeline serve their metrics.

Each serving process writes ``<state>/run/<role>.json`` (its pid and metrics URL) and
removes it when it stops cleanly. ``lakeforge status`` and Prometheus configuration read
these files; one left behind by a killed process names a dead pid and is ignored.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lakeforge.observe.metrics import Metrics, process_metrics
from lakeforge.observe.server import MetricsServer
from lakeforge.spec.model import Pipeline

#: The folder under the state directory that holds one file per serving process.
RUN_DIR = "run"
_ROLE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


@dataclass(frozen=True)
class Endpoint:
    """One running process and where its metrics are."""

    #: What the process does: ``producer``, ``runner``, ...
    role: str
    pid: int
    #: The full metrics URL, e.g. ``http://127.0.0.1:40123/metrics``.
    url: str
    pipeline: str
    #: When it started serving (ISO 8601, UTC).
    started_at: str

    @property
    def target(self) -> str:
        """``host:port``, as a Prometheus scrape target names it."""
        return self.url.split("://", 1)[-1].split("/", 1)[0]


def run_dir(pipeline: Pipeline) -> Path:
    """The folder of the pipeline's endpoint files."""
    return pipeline.state_path / RUN_DIR


def advertise(pipeline: Pipeline, role: str, url: str) -> Path:
    """Record that this process serves metrics at ``url``; return the file written."""
    if not _ROLE.match(role):
        raise ValueError(f"role {role!r} is not a lowercase name")
    endpoint = Endpoint(role, os.getpid(), url, pipeline.name, datetime.now(UTC).isoformat())
    folder = run_dir(pipeline)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{role}.json"
    # Written whole, then renamed: a reader never sees half a file.
    with tempfile.NamedTemporaryFile("w", dir=folder, prefix=f".{role}.", delete=False) as out:
        json.dump(asdict(endpoint), out, indent=2)
    os.replace(out.name, path)
    return path


def withdraw(path: Path) -> None:
    """Remove an endpoint file if this process wrote it (another may have replaced it)."""
    endpoint = _read(path)
    if endpoint is not None and endpoint.pid == os.getpid():
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def live_endpoints(pipeline: Pipeline) -> list[Endpoint]:
    """The endpoints of processes still alive, by role; unreadable or stale files skipped."""
    found = []
    for path in sorted(run_dir(pipeline).glob("*.json")):
        endpoint = _read(path)
        if endpoint is not None and _alive(endpoint.pid):
            found.append(endpoint)
    return found


def prometheus_targets(endpoints: list[Endpoint]) -> list[dict[str, Any]]:
    """Scrape targets in Prometheus's ``file_sd_configs`` format, labelled by role.

    The ``pipeline`` label comes from the metrics themselves; a target label of the same
    name would be renamed ``exported_pipeline`` by Prometheus.
    """
    return [{"targets": [e.target], "labels": {"role": e.role}} for e in endpoints]


@contextlib.contextmanager
def serve_metrics(
    pipeline: Pipeline, role: str, port: int | None, metrics: Metrics | None = None
) -> Iterator[MetricsServer | None]:
    """Serve this process's metrics on ``port`` and advertise them while the block runs.

    ``port`` None serves nothing (and yields None); 0 picks any free port.
    """
    if port is None:
        yield None
        return
    registry = (metrics or process_metrics()).registry
    with MetricsServer(registry, port) as server:
        path = advertise(pipeline, role, server.url)
        try:
            yield server
        finally:
            withdraw(path)


def _read(path: Path) -> Endpoint | None:
    try:
        data = json.loads(path.read_text())
        return Endpoint(
            role=str(data["role"]),
            pid=int(data["pid"]),
            url=str(data["url"]),
            pipeline=str(data["pipeline"]),
            started_at=str(data["started_at"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """Whether ``pid`` has exited but its parent has not reaped it yet (Linux only)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The state follows the command name, which is in parentheses and may hold spaces.
    return stat.rpartition(")")[2].split()[:1] == ["Z"]
