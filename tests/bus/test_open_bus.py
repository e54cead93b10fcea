"""Buses are found by name and imported only when opened."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import lakeforge
from lakeforge.bus import open_bus
from lakeforge.bus.embedded import EmbeddedLog
from lakeforge.errors import ConfigError


def test_the_embedded_bus_opens_by_name(tmp_path: Path) -> None:
    with open_bus("embedded", path=tmp_path / "log.db") as bus:
        assert isinstance(bus, EmbeddedLog)


def test_an_unknown_kind_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"no bus kind 'rabbit'; known kinds: .*embedded"):
        open_bus("rabbit")


def test_settings_a_bus_does_not_take_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'embedded' bus does not take these settings"):
        open_bus("embedded", path=tmp_path / "log.db", colour="blue")


def test_importing_the_bus_package_imports_no_bus() -> None:
    code = "import sys, lakeforge.bus; print('lakeforge.bus.embedded' in sys.modules)"
    root = str(Path(lakeforge.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": root}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr
