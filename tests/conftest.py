"""Shared fixtures: a fresh copy of the stocks example per test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STOCKS = ROOT / "examples" / "stocks"


@pytest.fixture
def stocks(tmp_path: Path) -> Path:
    """A private copy of examples/stocks (without any state) to run and break."""
    target = tmp_path / "stocks"
    shutil.copytree(STOCKS, target, ignore=shutil.ignore_patterns(".lakeforge", "target", "logs"))
    return target
