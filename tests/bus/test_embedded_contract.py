"""The bus contract, run against the embedded SQLite log."""

from pathlib import Path

import pytest

from lakeforge.bus.embedded import EmbeddedLog

from .contract import BusCapabilities, BusContract, BusFactory


class TestEmbeddedLog(BusContract):
    @pytest.fixture
    def bus_factory(self, tmp_path: Path) -> BusFactory:
        return lambda: EmbeddedLog(tmp_path / "bus" / "log.db")

    @pytest.fixture
    def bus_capabilities(self) -> BusCapabilities:
        return BusCapabilities(
            exact_fetches=True, retention_on_demand=True, max_value_bytes=64 << 20
        )
