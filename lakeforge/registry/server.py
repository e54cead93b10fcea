"""Serve an EmbeddedRegistry over the Confluent Schema Registry REST API.

Standard library only (``http.server``), bound to 127.0.0.1 unless told otherwise, so
that Kafka tools and confluent-kafka's own serializers can use the local registry as they
would a real one. The endpoints themselves are in :mod:`lakeforge.registry.api`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from lakeforge.errors import ConfigError, LakeforgeError, SchemaError, TransientError
from lakeforge.registry.api import ApiError, Request, find_endpoint
from lakeforge.registry.errors import ErrorCode, IncompatibleSchemaError, RegistryNotFoundError
from lakeforge.registry.store import EmbeddedRegistry

MEDIA_TYPE = "application/vnd.schemaregistry.v1+json"
# What Confluent accepts as a request body type; anything else is refused with 415.
_BODY_TYPES = {MEDIA_TYPE, "application/vnd.schemaregistry+json", "application/json"}
_MAX_BODY = 16 * 1024 * 1024
_log = logging.getLogger(__name__)


class RegistryServer:
    """The REST API of one EmbeddedRegistry on ``host:port`` (port 0: any free port).

    ``start()`` serves from a background thread (or use it as a context manager);
    ``serve_forever()`` serves from the calling thread, for a standalone process.
    """

    def __init__(self, registry: EmbeddedRegistry, host: str = "127.0.0.1", port: int = 0) -> None:
        self.registry = registry
        self.host = host
        self.port = port
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL clients use, e.g. ``http://127.0.0.1:8081``."""
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> RegistryServer:
        """Serve from a background thread; return once the port accepts connections."""
        httpd = self._bind()
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.1},  # how long stop() may wait for the loop
            name=f"schema-registry:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve from this thread until interrupted (Ctrl-C) or stopped from another."""
        httpd = self._bind()
        try:
            httpd.serve_forever(poll_interval=0.1)
        finally:
            httpd.server_close()

    def stop(self) -> None:
        """Stop serving, close open connections, and release the port."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> RegistryServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _bind(self) -> _HttpServer:
        if self._httpd is not None:
            raise ConfigError(f"the schema registry server at {self.url} is already running")
        try:
            self._httpd = _HttpServer((self.host, self.port), self.registry)
        except OSError as exc:
            raise ConfigError(
                f"cannot serve the schema registry on {self.host}:{self.port}: {exc.strerror}",
                "pick another port (0 picks a free one) or stop what is using it",
            ) from None
        self.port = self._httpd.server_address[1]
        return self._httpd


class _HttpServer(ThreadingHTTPServer):
    """A threading HTTP server that remembers its connections, to close them on stop.

    Keep-alive connections would otherwise outlive ``shutdown()`` and go on being
    answered by their handler threads after the registry was meant to be gone.
    """

    daemon_threads = True

    def __init__(self, address: tuple[str, int], registry: EmbeddedRegistry) -> None:
        self.registry = registry
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def close_connections(self) -> None:
        with self.connections_lock:
            for connection in self.connections:
                with contextlib.suppress(OSError):  # the client closed it first
                    connection.shutdown(socket.SHUT_RDWR)
            self.connections.clear()


class _Handler(BaseHTTPRequestHandler):
    """Turn one HTTP request into an API call and its result into a JSON response."""

    server: _HttpServer
    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse one connection
    server_version = "lakeforge-schema-registry"
    timeout = 60  # idle keep-alive connections do not hold a thread forever
    # Headers and body go out as two writes; with Nagle's algorithm and delayed ACKs
    # each response would wait ~40 ms for nothing.
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        super().finish()

    def do_GET(self) -> None:  # the name http.server calls
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")

    def do_PUT(self) -> None:
        self._answer("PUT")

    def do_DELETE(self) -> None:
        self._answer("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("%s %s", self.address_string(), format % args)

    def _answer(self, method: str) -> None:
        try:
            raw = self._read_body()
            url = urlsplit(self.path)
            # Split before decoding: a subject may hold an encoded "/" (%2F).
            segments = [unquote(s) for s in url.path.strip("/").split("/")]
            endpoint, params = find_endpoint(method, segments)
            request = Request(params, dict(parse_qsl(url.query)), self._parse_body(raw))
            status, payload = 200, endpoint(self.server.registry, request)
        except Exception as exc:  # every failure becomes a Confluent error body
            status, payload = _error_body(exc)
        self._send(status, payload)

    def _read_body(self) -> bytes:
        declared = self.headers.get("Content-Length") or "0"
        if not declared.isdigit():
            self.close_connection = True  # where this body ends is unknown
            raise ApiError(400, f"Content-Length {declared!r} is not a number")
        length = int(declared)
        if length > _MAX_BODY:
            self.close_connection = True  # the unread body would garble the next request
            raise ApiError(413, f"the request body is larger than {_MAX_BODY} bytes")
        return self.rfile.read(length) if length else b""

    def _parse_body(self, raw: bytes) -> Any:
        if not raw:
            return None
        media_type = (self.headers.get("Content-Type") or MEDIA_TYPE).split(";")[0].strip()
        if media_type.lower() not in _BODY_TYPES:
            raise ApiError(415, f"HTTP 415: send the body as {MEDIA_TYPE} or application/json")
        try:
            return json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ApiError(400, f"the request body is not valid JSON: {exc}") from None

    def _send(self, status: int, payload: Any) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", MEDIA_TYPE)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _error_body(exc: Exception) -> tuple[int, dict[str, Any]]:
    """Give the HTTP status and Confluent error body for an exception."""
    body: dict[str, Any] = {}
    if isinstance(exc, ApiError):
        code, message = exc.code, exc.message
    elif isinstance(exc, LakeforgeError):
        message = exc.what if exc.hint is None else f"{exc.what}; {exc.hint}"
        if isinstance(exc, RegistryNotFoundError):
            code = exc.code
        elif isinstance(exc, IncompatibleSchemaError):
            code, body["messages"] = ErrorCode.INCOMPATIBLE_SCHEMA, exc.problems
        elif isinstance(exc, SchemaError):
            code = ErrorCode.INVALID_SCHEMA
        elif isinstance(exc, ConfigError):
            code = ErrorCode.INVALID_COMPATIBILITY_LEVEL
        elif isinstance(exc, TransientError):
            code = ErrorCode.TIMEOUT
        else:
            code = ErrorCode.INTERNAL
    else:
        _log.exception("schema registry request failed")
        code, message = ErrorCode.INTERNAL, f"internal error: {type(exc).__name__}: {exc}"
    status = code if code < 1000 else code // 100
    return status, {"error_code": int(code), "message": message, **body}
