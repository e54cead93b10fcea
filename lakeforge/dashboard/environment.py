"""Superset's own virtual environment: created on first use from pinned requirements.

Superset cannot share an environment with lakeforge (nor with Airflow): their
SQLAlchemy versions differ. So ``lakeforge dashboard`` installs the exact packages of
``superset-requirements.txt`` into a separate virtual environment, by default
``~/.cache/lakeforge/superset-<hash of the requirements>``, so that changing a pin
installs a new one next to the old.

The packages are installed by uv (a lakeforge dependency, from PyPI), which downloads
and installs them in parallel: about 15 s instead of pip's 3 minutes for 154 packages on
2 cores; pip is the fallback when uv is missing. The install is resumable: a stamp file,
written last, marks an environment as finished, so an interrupted install is simply run
again. A lock lets only one process install at a time.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import TextIO

import duckdb

from lakeforge.errors import ConfigError, TerminalError

#: Where a custom environment is, instead of the default under the cache directory.
VENV_VARIABLE = "LAKEFORGE_SUPERSET_VENV"
REQUIREMENTS_FILE = "superset-requirements.txt"
#: The pip that installs; pinned so every machine resolves the same way.
PIP_VERSION = "25.3"
STAMP_FILE = ".lakeforge-installed"
#: Seconds between "still installing" lines while pip is silent.
HEARTBEAT_S = 30.0

Progress = Callable[[str], None]


def requirements_text() -> str:
    """The pinned requirements shipped inside lakeforge."""
    return resources.files("lakeforge.dashboard").joinpath(REQUIREMENTS_FILE).read_text()


def pinned(text: str) -> dict[str, str]:
    """``{package: version}`` of every ``name==version`` line (names lower-case, ``-``)."""
    pins = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[name.strip().lower().replace("_", "-")] = version.strip()
    return pins


def default_venv_path(text: str) -> Path:
    """``~/.cache/lakeforge/superset-<hash>``; the hash covers the pins and Python's version."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    digest = hashlib.sha256(f"{version}\n{text}".encode()).hexdigest()[:12]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "lakeforge" / f"superset-{digest}"


class SupersetEnvironment:
    """The virtual environment Superset runs from."""

    def __init__(self, path: Path | None = None) -> None:
        self.requirements = requirements_text()
        #: Names exactly these pins; the stamp of a finished install holds it.
        self.digest = hashlib.sha256(self.requirements.encode()).hexdigest()
        configured = os.environ.get(VENV_VARIABLE)
        if path is None:
            path = Path(configured) if configured else default_venv_path(self.requirements)
        self.path = path.expanduser().absolute()
        self.python = self.path / "bin" / "python"
        #: pip's whole output, next to the environment (kept after a failure).
        self.log_path = self.path.with_name(self.path.name + ".install.log")

    @property
    def ready(self) -> bool:
        """Whether a finished install of exactly these requirements is there."""
        stamp = self.path / STAMP_FILE
        return stamp.is_file() and stamp.read_text().strip() == self.digest

    def ensure(self, progress: Progress = lambda _: None) -> SupersetEnvironment:
        """Install the environment unless it is already there; return it."""
        check_duckdb_pin(self.requirements)
        if self.ready:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _install_lock(self.path.with_name(self.path.name + ".lock"), progress):
            if self.ready:  # another process finished it while we waited
                return self
            started = time.monotonic()
            progress(f"installing Superset into {self.path} (once)")
            self._install(progress)
            progress(f"Superset is installed ({time.monotonic() - started:,.0f}s)")
        return self

    def _install(self, progress: Progress) -> None:
        if not _python_works(self.python):
            # A half-made environment (interrupted while it was created) is made anew.
            python = _base_python()
            made = subprocess.run(
                [python, "-m", "venv", "--clear", str(self.path)], capture_output=True, text=True
            )
            if made.returncode != 0:
                raise TerminalError(
                    f"{python} could not create a virtual environment at {self.path}: "
                    + (made.stderr.strip().splitlines() or ["no message"])[-1],
                    f"on Debian, install python3-venv; or set {VENV_VARIABLE} to a writable folder",
                )
        requirements = self.path / REQUIREMENTS_FILE
        requirements.write_text(self.requirements)
        pip = [str(self.python), "-m", "pip", "--disable-pip-version-check", "--no-input"]
        total = len(pinned(self.requirements))
        with self.log_path.open("w") as log:
            if (uv := _uv()) is not None:
                command = [uv, "pip", "install", "--python", str(self.python)]
                _run_pip([*command, "-r", str(requirements)], log, progress, self, total=total)
            else:
                _run_pip([*pip, "install", f"pip=={PIP_VERSION}"], log, progress, self)
                command = [*pip, "install", "--progress-bar", "off", "-r", str(requirements)]
                _run_pip(command, log, progress, self, total=total)
        self._smoke_test()
        # Written last: only a complete, working install has it.
        (self.path / STAMP_FILE).write_text(self.digest + "\n")

    def _smoke_test(self) -> None:
        probe = "import duckdb, duckdb_engine, gunicorn, superset; print(duckdb.__version__)"
        done = subprocess.run([str(self.python), "-c", probe], capture_output=True, text=True)
        if done.returncode != 0 or done.stdout.strip() != duckdb.__version__:
            raise TerminalError(
                f"Superset's environment {self.path} was installed but does not work: "
                + (done.stderr.strip().splitlines() or [done.stdout.strip()])[-1],
                f"delete {self.path} and run 'lakeforge dashboard' again",
            )


def check_duckdb_pin(text: str) -> None:
    """Refuse requirements whose duckdb differs from lakeforge's: extension files would not load."""
    wanted = pinned(text).get("duckdb")
    if wanted != duckdb.__version__:
        raise ConfigError(
            f"{REQUIREMENTS_FILE} pins duckdb {wanted} but lakeforge runs duckdb "
            f"{duckdb.__version__}; the dashboard's DuckDB must load the same extension files",
            f"pin duckdb=={duckdb.__version__} in lakeforge/dashboard/{REQUIREMENTS_FILE}",
        )


def _uv() -> str | None:
    """The uv executable installed with lakeforge, if any."""
    try:
        from uv import find_uv_bin
    except ImportError:
        return None
    try:
        return str(find_uv_bin())
    except FileNotFoundError:
        return None


def _base_python() -> str:
    # The interpreter lakeforge runs on (not its virtual environment's shim).
    return getattr(sys, "_base_executable", None) or sys.executable


def _python_works(python: Path) -> bool:
    if not python.exists():
        return False
    probe = subprocess.run([str(python), "-c", "import pip"], capture_output=True)
    return probe.returncode == 0


@contextmanager
def _install_lock(path: Path, progress: Progress) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress("another process is installing Superset; waiting for it")
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _run_pip(
    command: list[str],
    log: TextIO,
    progress: Progress,
    environment: SupersetEnvironment,
    total: int = 0,
) -> None:
    """Run pip, copying its output to the log and turning it into progress lines."""
    log.write("$ " + " ".join(command) + "\n")
    log.flush()
    env = {**os.environ, "PIP_NO_INPUT": "1", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    reader = threading.Thread(target=_copy_lines, args=(process.stdout, lines), daemon=True)
    reader.start()
    tracker = _PipProgress(progress, total)
    last = time.monotonic()
    try:
        while (line := _next_line(lines, tracker, last)) is not None:
            log.write(line)
            log.flush()
            tracker.line(line)
            last = time.monotonic()
    except BaseException:
        # Interrupted (Ctrl-C, SIGTERM): pip must not go on alone; the stamp is not written.
        process.kill()
        process.wait()
        raise
    code = process.wait()
    if code != 0:
        raise TerminalError(
            f"pip could not install Superset's environment (exit {code}); its whole output "
            f"is in {environment.log_path}:\n  " + "\n  ".join(_tail(environment.log_path)),
            "check that PyPI is reachable, then run the same command again: the install "
            f"resumes (or delete {environment.path} to start over)",
        )


def _next_line(lines: queue.Queue[str | None], tracker: _PipProgress, since: float) -> str | None:
    """The next line pip printed (None at its end); says "still working" while it is silent."""
    while True:
        try:
            return lines.get(timeout=HEARTBEAT_S)
        except queue.Empty:
            tracker.heartbeat(time.monotonic() - since)


def _copy_lines(stream: Iterable[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def _tail(path: Path, count: int = 12) -> list[str]:
    return path.read_text(errors="replace").splitlines()[-count:]


class _PipProgress:
    """Turns pip's output into a few lines a person can follow."""

    def __init__(self, progress: Progress, total: int) -> None:
        self._progress = progress
        self._total = total
        self._collected = 0
        self._stage = ""
        self._step = max(total // 8, 1)

    def line(self, line: str) -> None:
        text = line.strip()
        if not self._total:  # a small step (pip itself): only heartbeats
            return
        if text.startswith(("Collecting ", "Requirement already satisfied: ")):
            self._collected += 1
            self._stage = "resolving"
            if self._collected % self._step == 0 or self._collected == self._total:
                name = text.removeprefix("Requirement already satisfied: ")
                name = name.removeprefix("Collecting ").split()[0]
                self._progress(f"  [{self._collected}/{self._total}] {name}")
        elif text.startswith("Installing collected packages"):
            self._stage = "installing"
            self._progress(f"  installing {text.count(',') + 1} packages")
        elif text.startswith(("Resolved ", "Prepared ", "Installed ", "Uninstalled ")):
            # uv: one line per stage ("Prepared 154 packages in 9.8s").
            self._stage = text.split()[0].lower()
            self._progress(f"  {text}")

    def heartbeat(self, silent_s: float) -> None:
        what = self._stage or "working"
        self._progress(f"  still {what} ({silent_s:,.0f}s since pip's last line)")
