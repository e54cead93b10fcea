"""Run Superset for one pipeline: a gunicorn child process bound to 127.0.0.1.

    server = SupersetServer(pipeline, port=8088)
    server.start()            # installs Superset on first use, then waits for /health
    print(server.url)
    ...
    server.stop()             # SIGTERM, then SIGKILL after a timeout; only our process

The server runs in its own session, so Ctrl-C reaches lakeforge only and lakeforge stops
it. The ``admin`` password is generated on the first start (or with ``reset_password``),
kept in :attr:`SupersetServer.new_admin_password` for the caller to show once, and never
stored: Superset keeps its hash. Provisioning logs in as a service user whose random
password changes at every start and lives only in this object.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import socket
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType

import httpx
from pydantic import SecretStr

from lakeforge.children import stop_process
from lakeforge.dashboard.environment import Progress, SupersetEnvironment
from lakeforge.dashboard.home import SupersetHome
from lakeforge.dashboard.superset_setup import RESULT_PREFIX
from lakeforge.errors import ConfigError, TerminalError
from lakeforge.spec.model import Pipeline
from lakeforge.stream.lock import PipelineLock

DEFAULT_PORT = 8088
HOST = "127.0.0.1"
SERVICE_USER = "lakeforge"
START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 20.0
SETUP_TIMEOUT_S = 600.0
#: Seconds a request may take before gunicorn restarts its worker.
REQUEST_TIMEOUT_S = 120


class SupersetServer:
    """Superset serving one pipeline's dashboards on ``http://127.0.0.1:<port>``."""

    def __init__(
        self,
        pipeline: Pipeline,
        port: int = DEFAULT_PORT,
        reset_password: bool = False,
        environment: SupersetEnvironment | None = None,
        progress: Progress = lambda _: None,
    ) -> None:
        self.pipeline = pipeline
        self.port = port
        self.home = SupersetHome(pipeline.state_path)
        self.environment = environment or SupersetEnvironment()
        self._reset_password = reset_password
        self._progress = progress
        self._process: subprocess.Popen[bytes] | None = None
        self._held = ExitStack()
        #: The admin password made by this start (first start, or a reset); else None.
        self.new_admin_password: SecretStr | None = None
        self.service_user = SERVICE_USER
        self.service_password = SecretStr(secrets.token_urlsafe(24))

    @property
    def url(self) -> str:
        """Where the server answers."""
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._process.pid if self._process else None

    def start(self, timeout_s: float = START_TIMEOUT_S) -> SupersetServer:
        """Install Superset if needed, prepare its metadata, start it and wait for /health."""
        lock = PipelineLock(self.home.lock_path, f"Superset of pipeline {self.pipeline.name!r}")
        self._held.enter_context(lock)
        try:
            check_port_free(self.port)
            self.environment.ensure(self._progress)
            self.home.prepare(self.pipeline.name, REQUEST_TIMEOUT_S)
            self._setup()
            self._launch()
            self._wait_healthy(timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def _environ(self) -> dict[str, str]:
        # Superset's Python must see its own packages only, never lakeforge's.
        inherited = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        return {
            **inherited,
            "SUPERSET_CONFIG_PATH": str(self.home.config_path),
            "PYTHONUNBUFFERED": "1",
        }

    def _setup(self) -> None:
        """Migrate the metadata database, set up roles once, create or reset users."""
        initialize = not self.home.initialized_for(self.environment.digest)
        self._progress(
            "setting up Superset's metadata (first start: about a minute)"
            if initialize
            else "checking Superset's metadata"
        )
        admin_password = secrets.token_urlsafe(16)
        request = {
            "initialize": initialize,
            "admin_password": admin_password,
            "reset_admin": self._reset_password,
            "service_user": self.service_user,
            "service_password": self.service_password.get_secret_value(),
        }
        script = Path(__file__).with_name("superset_setup.py")
        with self.home.log_path.open("ab") as log:
            log.write(b"\n--- lakeforge: setting up the metadata database\n")
            log.flush()
            try:
                done = subprocess.run(
                    [str(self.environment.python), str(script)],
                    input=json.dumps(request).encode(),
                    stdout=subprocess.PIPE,
                    stderr=log,
                    env=self._environ(),
                    cwd=self.home.path,
                    timeout=SETUP_TIMEOUT_S,
                )
            except subprocess.TimeoutExpired:
                raise self._failure(f"setting up took over {SETUP_TIMEOUT_S:.0f}s") from None
            log.write(done.stdout)
        result = _setup_result(done.stdout.decode(errors="replace"))
        if done.returncode != 0 or result is None:
            raise self._failure(f"setting up its metadata failed (exit {done.returncode})")
        if initialize:
            self.home.initialized_path.write_text(self.environment.digest + "\n")
        if result["admin_created"] or result["admin_reset"]:
            self.new_admin_password = SecretStr(admin_password)

    def _launch(self) -> None:
        command = [
            str(self.environment.python), "-m", "gunicorn",
            "--bind", f"{HOST}:{self.port}",
            "--workers", "1", "--worker-class", "gthread", "--threads", "8",
            "--timeout", str(REQUEST_TIMEOUT_S), "--graceful-timeout", "10",
            "superset.app:create_app()",
        ]  # fmt: skip
        with self.home.log_path.open("ab") as log:
            log.write(f"\n--- lakeforge: starting Superset on {self.url}\n".encode())
            log.flush()
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._environ(),
                cwd=self.home.path,
                start_new_session=True,  # Ctrl-C reaches lakeforge, which stops it
            )

    def _wait_healthy(self, timeout_s: float) -> None:
        self._progress(f"waiting for Superset on {self.url}")
        deadline = time.monotonic() + timeout_s
        with httpx.Client(timeout=5.0) as client:
            while time.monotonic() < deadline:
                assert self._process is not None
                if self._process.poll() is not None:
                    raise self._failure(f"it exited with code {self._process.returncode}")
                try:
                    if client.get(f"{self.url}/health").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass  # not listening yet
                time.sleep(0.5)
        raise self._failure(f"it did not answer {self.url}/health within {timeout_s:.0f}s")

    def check_running(self) -> None:
        """Raise, with the end of its log, if the server has exited since it started."""
        if self._process is not None and self._process.poll() is not None:
            code, self._process = self._process.returncode, None
            raise self._failure(f"it exited with code {code}", started=True)

    def _failure(self, why: str, started: bool = False) -> TerminalError:
        lines = self.home.log_path.read_text(errors="replace").splitlines()[-20:]
        return TerminalError(
            f"Superset {'stopped' if started else 'did not start'}: {why}; "
            f"the end of its log {self.home.log_path}:\n  " + "\n  ".join(lines),
            f"read {self.home.log_path}; delete {self.home.path} to start Superset afresh "
            "(its charts and users are then made again)",
        )

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Stop the server (SIGTERM, then SIGKILL after ``timeout_s``) and release its lock."""
        process, self._process = self._process, None
        if process is not None:
            # gunicorn's workers exit by themselves once their master is gone.
            stop_process(process, timeout_s)
        self._held.close()

    def __enter__(self) -> SupersetServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def check_port_free(port: int) -> None:
    """Raise a clear error when something already listens on ``127.0.0.1:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As gunicorn does: a port left in TIME_WAIT by a previous run is free to reuse.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise
            raise ConfigError(
                f"port {port} on {HOST} is already in use, so Superset cannot start there",
                f"stop what listens on port {port} (another 'lakeforge dashboard'?), "
                "or pass --port with a free port",
            ) from None


def _setup_result(stdout: str) -> dict[str, bool] | None:
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            result: dict[str, bool] = json.loads(line[len(RESULT_PREFIX) :])
            return result
    return None
