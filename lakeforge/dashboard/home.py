"""Superset's files for one pipeline, under ``<state>/superset``.

::

    superset_config.py    written by lakeforge at every start (holds no secret)
    secret_key            Superset's SECRET_KEY: generated once, mode 0600, never printed
    superset.db           Superset's metadata (SQLite): users, databases, charts, dashboards
    superset.log          the server's output, for when it does not start
    duckdb_extensions/    the lake's DuckDB extensions, installed offline for Superset
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

#: Past this size, a start moves the log aside and begins a new one.
MAX_LOG_BYTES = 20_000_000

_CONFIG = '''"""Superset's configuration for the lakeforge pipeline {name!r}.

Written by 'lakeforge dashboard' at every start: edits here are lost.
"""

from pathlib import Path

_HERE = Path(__file__).resolve().parent

# Read from its own file (mode 0600) so that this one holds no secret.
SECRET_KEY = (_HERE / "secret_key").read_text().strip()
SQLALCHEMY_DATABASE_URI = "sqlite:///" + str(_HERE / "superset.db")

# One local server: an in-process store is enough for Flask-Limiter, and says so.
RATELIMIT_STORAGE_URI = "memory://"
# The charts show a live lake: never serve a cached result.
DATA_CACHE_CONFIG = {{"CACHE_TYPE": "NullCache"}}
SUPERSET_WEBSERVER_TIMEOUT = {timeout}
'''


class SupersetHome:
    """The folder holding one pipeline's Superset configuration and metadata."""

    def __init__(self, state_path: Path) -> None:
        self.path = state_path / "superset"
        self.config_path = self.path / "superset_config.py"
        self.secret_key_path = self.path / "secret_key"
        self.metadata_path = self.path / "superset.db"
        self.log_path = self.path / "superset.log"
        self.extension_directory = self.path / "duckdb_extensions"
        #: Written once Superset's roles and permissions are set up, per requirements.
        self.initialized_path = self.path / ".initialized"
        self.lock_path = self.path / "server.lock"

    def prepare(self, pipeline_name: str, timeout_s: int) -> None:
        """Create the folder, the secret key (once) and the configuration file."""
        self.path.mkdir(parents=True, exist_ok=True)
        if not self.secret_key_path.exists():
            _write_private(self.secret_key_path, secrets.token_urlsafe(48) + "\n")
        os.chmod(self.secret_key_path, 0o600)  # in case someone loosened it
        self.config_path.write_text(_CONFIG.format(name=pipeline_name, timeout=timeout_s))
        if self.log_path.exists() and self.log_path.stat().st_size > MAX_LOG_BYTES:
            self.log_path.replace(self.log_path.with_suffix(".log.1"))  # keep one old log

    def initialized_for(self, digest: str) -> bool:
        """Whether roles and permissions were set up by this version of Superset."""
        path = self.initialized_path
        return path.is_file() and path.read_text().strip() == digest


def _write_private(path: Path, text: str) -> None:
    """Create ``path`` readable by its owner only, from the first byte on."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text)
