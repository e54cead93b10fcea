"""A real Prometheus per test that asks for one (see ``tests/prometheus_server.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.prometheus_server import PrometheusError, PrometheusServer


@pytest.fixture
def prometheus() -> Iterator[PrometheusServer]:
    """A started Prometheus scraping nothing yet: give it targets with ``set_targets``."""
    server = PrometheusServer()
    try:
        server.start()
    except PrometheusError as error:
        # Fail, never skip: a metrics suite that silently does not run proves nothing.
        pytest.fail(f"could not start the Prometheus test server: {error}", pytrace=False)
    yield server
    server.stop()
