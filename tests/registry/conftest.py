"""Registry fixtures: a real REST server per test module, the example schema, subjects."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from lakeforge.registry import EmbeddedRegistry, RegistryServer
from tests.registry.schema_edits import TRADE_AVSC


@pytest.fixture(scope="session")
def trade_schema() -> str:
    """The stock example's Trade schema, as its file holds it."""
    return TRADE_AVSC.read_text()


@pytest.fixture(scope="module")
def server() -> Iterator[RegistryServer]:
    """A registry served on a free 127.0.0.1 port for this module's tests, stopped after."""
    registry = EmbeddedRegistry(":memory:")
    with RegistryServer(registry) as running:
        yield running
    registry.close()


@pytest.fixture
def subject(request: pytest.FixtureRequest) -> str:
    """A subject of this test's own, so that tests sharing a server do not meet."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name) + "-value"
