"""A real Prometheus for tests: the Debian package's binary, on 127.0.0.1, data in a temp folder.

    with PrometheusServer(targets) as prometheus:
        prometheus.wait_for('lakeforge_records_total{stage="bronze"}', lambda v: v == 1000)

Targets are given in ``file_sd_configs`` form (what
:func:`lakeforge.observe.prometheus_targets` returns) and can be replaced while it runs:
Prometheus watches the file. Every target is scraped each second.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from lakeforge.children import stop_process

#: Where ``apt-get install prometheus`` puts it; PROMETHEUS_BINARY overrides.
BINARY = os.environ.get("PROMETHEUS_BINARY", "/usr/bin/prometheus")
START_TIMEOUT_S = 60.0

_CONFIG = """\
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: lakeforge
    file_sd_configs:
      - files: [{targets}]
        refresh_interval: 1s
"""


class PrometheusError(RuntimeError):
    """Prometheus could not be started."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrometheusServer:
    """One Prometheus process, scraping ``targets`` every second."""

    def __init__(self, targets: list[dict[str, Any]] | None = None) -> None:
        self.targets = targets or []
        self.port = 0
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The base URL of its web UI and HTTP API."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def _work(self) -> Path:
        assert self._workdir is not None, "start() first"
        return Path(self._workdir.name)

    @property
    def log_path(self) -> Path:
        """Prometheus's own log (stdout and stderr)."""
        return self._work / "prometheus.log"

    def start(self) -> PrometheusServer:
        """Write the configuration, start Prometheus and wait until it is ready."""
        if not shutil.which(BINARY):
            raise PrometheusError(
                f"no Prometheus at {BINARY}: run 'make system-deps' "
                "(apt-get install prometheus) or set PROMETHEUS_BINARY"
            )
        self._workdir = tempfile.TemporaryDirectory(prefix="lakeforge-prometheus-")
        targets = self._work / "targets.json"
        self.set_targets(self.targets)
        config = self._work / "prometheus.yml"
        config.write_text(_CONFIG.format(targets=json.dumps(str(targets))))
        self.port = free_port()
        command = [
            BINARY,
            f"--config.file={config}",
            f"--storage.tsdb.path={self._work / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        self._wait_until_ready()
        return self

    def set_targets(self, targets: list[dict[str, Any]]) -> None:
        """Replace what Prometheus scrapes (written whole, then renamed into place)."""
        self.targets = targets
        staged = self._work / ".targets.json"
        staged.write_text(json.dumps(targets))
        staged.replace(self._work / "targets.json")

    def _wait_until_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._fail(f"Prometheus exited with code {self._process.returncode}")
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:  # not listening yet: the deadline decides
                pass
            time.sleep(0.2)
        self._fail(f"Prometheus was not ready within {START_TIMEOUT_S:.0f} s")

    def _fail(self, what: str) -> None:
        tail = "\n".join(self.log_path.read_text(errors="replace").splitlines()[-40:])
        self.stop()
        raise PrometheusError(f"{what} on {self.url}; its log ends:\n{tail}")

    def query(self, expression: str) -> list[dict[str, Any]]:
        """The result of an instant query: ``[{"metric": {...}, "value": [t, "v"]}, ...]``."""
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": expression}, timeout=10)
        body = response.json()
        if body.get("status") != "success":
            raise AssertionError(f"query {expression!r} failed: {body}")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def values(self, expression: str) -> list[float]:
        """The values of an instant query's series, in the order Prometheus gives them."""
        return [float(series["value"][1]) for series in self.query(expression)]

    def wait_for(
        self,
        expression: str,
        condition: Callable[[list[float]], bool],
        timeout: float = 60.0,
    ) -> list[float]:
        """Query until ``condition(values)`` holds; fail with the last values after ``timeout``.

        The timeout only bounds a wait for scrapes to happen; it is no assertion on speed.
        """
        deadline = time.monotonic() + timeout
        values = self.values(expression)
        while not condition(values):
            if time.monotonic() > deadline:
                raise AssertionError(f"{expression!r} is still {values} after {timeout:.0f} s")
            time.sleep(0.5)
            values = self.values(expression)
        return values

    def stop(self) -> None:
        """Stop our Prometheus (SIGTERM, SIGKILL after 20 s) and delete its data."""
        if self._process is not None:
            stop_process(self._process, timeout=20)
            self._process = None
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
