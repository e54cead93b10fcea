"""HttpRegistry's own duties: unreachable registries, timeouts, credentials, errors."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lakeforge.errors import ConfigError, TransientError
from lakeforge.registry import (
    Compatibility,
    EmbeddedRegistry,
    ErrorCode,
    HttpRegistry,
    RegistryNotFoundError,
    RegistryServer,
)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_closed_port_is_a_quick_transient_error() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    registry = HttpRegistry(url)
    started = time.monotonic()
    with pytest.raises(TransientError) as caught:
        registry.subjects()
    assert time.monotonic() - started < 2
    assert url in str(caught.value) and "start the registry" in str(caught.value)
    assert caught.value.transient


def test_a_silent_registry_times_out() -> None:
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        registry = HttpRegistry(f"http://127.0.0.1:{silent.getsockname()[1]}", timeout_s=0.3)
        started = time.monotonic()
        with pytest.raises(TransientError, match=r"did not answer GET /subjects within 0\.3 s"):
            registry.subjects()
        assert time.monotonic() - started < 3


def test_credentials_never_show() -> None:
    registry = HttpRegistry(f"http://ingest:hunter2@127.0.0.1:{closed_port()}")
    with pytest.raises(TransientError) as caught:
        registry.subjects()
    assert "hunter2" not in str(caught.value) and "hunter2" not in repr(registry)
    assert "ingest" not in registry.url


class _Guarded(BaseHTTPRequestHandler):
    """A registry front that wants basic auth, as a cluster's registry would."""

    expected = "Basic " + base64.b64encode(b"ingest:hunter2").decode()

    def do_GET(self) -> None:
        allowed = self.headers.get("Authorization") == self.expected
        body = json.dumps([] if allowed else {"error_code": 401, "message": "Unauthorized"})
        self.send_response(200 if allowed else 401)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def guarded_url() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Guarded)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_basic_auth_is_sent_and_refusal_is_a_config_error(guarded_url: str) -> None:
    class Secret:
        def get_secret_value(self) -> str:
            return "hunter2"

    assert HttpRegistry(guarded_url, username="ingest", password=Secret()).subjects() == []
    wrong = HttpRegistry(guarded_url, username="ingest", password="hunter3")
    with pytest.raises(ConfigError, match="refused the credentials") as caught:
        wrong.subjects()
    assert "hunter3" not in str(caught.value)


def test_not_found_codes_survive_the_trip(server: RegistryServer, subject: str) -> None:
    registry = HttpRegistry(server.url)
    registry.register(subject, '"string"')
    with pytest.raises(RegistryNotFoundError) as caught:
        registry.version(subject, 5)
    assert caught.value.code == ErrorCode.VERSION_NOT_FOUND
    assert registry.lookup(subject, '"int"') is None
    assert registry.lookup(f"no-{subject}", '"int"') is None
    assert registry.delete_subject(subject) == [1]
    assert registry.delete_subject(subject, permanent=True) == [1]
    assert registry.versions(subject) == []


def test_compatibility_levels_over_http(server: RegistryServer, subject: str) -> None:
    registry = HttpRegistry(server.url)
    assert registry.get_compatibility(subject) is Compatibility.BACKWARD
    assert registry.set_compatibility("forward", subject) is Compatibility.FORWARD
    assert registry.get_compatibility(subject) is Compatibility.FORWARD
    with pytest.raises(ConfigError, match="42203"):
        registry.set_compatibility("SIDEWAYS", subject)


def test_subjects_with_slashes(server: RegistryServer) -> None:
    registry = HttpRegistry(server.url + "/")
    found = registry.register("team/prices-value", '"double"')
    assert registry.latest("team/prices-value") == found
    assert registry.delete_version("team/prices-value", 1) == 1


@pytest.mark.parametrize("url", ["127.0.0.1:8081", "ftp://127.0.0.1", "http://"])
def test_bad_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError, match="schema registry URL"):
        HttpRegistry(url)


def test_a_server_can_be_stopped_and_its_port_refuses(trade_schema: str) -> None:
    with RegistryServer(EmbeddedRegistry()) as running:
        registry = HttpRegistry(running.url)
        registry.register("t-value", trade_schema)  # leaves a keep-alive connection open
    with pytest.raises(TransientError):
        registry.subjects()


def test_serve_forever_runs_until_stopped() -> None:
    standalone = RegistryServer(EmbeddedRegistry())
    thread = threading.Thread(target=standalone.serve_forever)
    thread.start()
    deadline = time.monotonic() + 5
    while standalone.port == 0 and time.monotonic() < deadline:
        time.sleep(0.01)  # the port is known once bound
    assert HttpRegistry(standalone.url).subjects() == []
    standalone.stop()
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_a_taken_port_is_a_config_error(server: RegistryServer) -> None:
    with pytest.raises(
        ConfigError, match=f"cannot serve the schema registry on 127.0.0.1:{server.port}"
    ):
        RegistryServer(EmbeddedRegistry(), port=server.port).start()
