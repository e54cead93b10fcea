"""Serve a process's metrics over HTTP for Prometheus, on 127.0.0.1 only."""

from __future__ import annotations

import errno
import threading
from types import TracebackType
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server

from lakeforge.errors import ConfigError

#: Metrics are served on the loopback interface only: nothing leaves the machine.
HOST = "127.0.0.1"


class MetricsServer:
    """The Prometheus text endpoint of one registry on ``127.0.0.1:port`` (0: any free port).

    ``start()`` serves from a background thread; ``stop()`` releases the port. Use it as
    a context manager to do both.
    """

    def __init__(self, registry: CollectorRegistry, port: int = 0) -> None:
        self.registry = registry
        self.port = port
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """What Prometheus (or curl) reads, e.g. ``http://127.0.0.1:9464/metrics``."""
        return f"http://{HOST}:{self.port}/metrics"

    def start(self) -> MetricsServer:
        """Bind the port and serve; a clear error if the port is taken."""
        if self._server is not None:
            raise ConfigError(f"the metrics server at {self.url} is already running")
        try:
            self._server, self._thread = start_http_server(
                self.port, addr=HOST, registry=self.registry
            )
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(
                    f"cannot serve metrics on {HOST}:{self.port}: the port is already in use",
                    f"stop what listens on port {self.port}, pick another with "
                    "--metrics-port, or give --metrics-port 0 for any free port",
                ) from None
            raise ConfigError(
                f"cannot serve metrics on {HOST}:{self.port}: {exc.strerror}",
                "give --metrics-port 0 for any free port, or 'off' for no metrics server",
            ) from None
        self.port = self._server.server_port
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> MetricsServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
