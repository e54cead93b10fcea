"""Superset's environment: a failed install says where its log is and never looks finished."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from lakeforge.dashboard.environment import STAMP_FILE, VENV_VARIABLE, SupersetEnvironment
from lakeforge.errors import TerminalError


def test_a_failed_install_names_its_log_and_is_not_ready(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as closed:  # a port nothing answers on: an unreachable index
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv(VENV_VARIABLE, str(tmp_path / "superset"))
    monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{port}/simple")
    # uv installs the packages: the same unreachable index, and no cache to fall back on.
    monkeypatch.setenv("UV_INDEX_URL", f"http://127.0.0.1:{port}/simple")
    monkeypatch.setenv("UV_NO_CACHE", "1")
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    monkeypatch.setenv("PIP_RETRIES", "0")
    environment = SupersetEnvironment()
    assert environment.path == tmp_path / "superset"
    lines: list[str] = []
    with pytest.raises(TerminalError) as caught:
        environment.ensure(lines.append)
    assert "pip could not install Superset's environment" in caught.value.what
    assert str(environment.log_path) in caught.value.what
    assert "run the same command again" in (caught.value.hint or "")
    assert environment.log_path.is_file()
    assert not (environment.path / STAMP_FILE).exists()
    assert not environment.ready
    assert lines[0].startswith("installing Superset into")
