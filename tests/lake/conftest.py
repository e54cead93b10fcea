"""Fixtures of the lake tests: a fresh warehouse per test, real tables on disk."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lakeforge.lake import LakeTable, Warehouse
from tests.lake.tables import SCHEMA


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[Warehouse]:
    """An empty warehouse under the test's temporary directory."""
    with Warehouse(tmp_path / "lake") as opened:
        yield opened


@pytest.fixture
def trades_table(warehouse: Warehouse) -> LakeTable:
    """A new, empty ``bronze.trades`` table."""
    return warehouse.table("bronze.trades", SCHEMA)
