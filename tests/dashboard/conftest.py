"""One real Superset per test session, serving a real stocks lake on a free port.

The first session on a machine installs Superset's virtual environment (a few minutes,
from PyPI); later ones reuse it. Trades are produced at a steady rate while Superset
starts, so that the per-minute charts have more than one minute to draw.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lakeforge.cli.common import load
from lakeforge.dashboard import ProvisionReport, SupersetEnvironment, SupersetServer, provision
from lakeforge.dashboard.api import SupersetClient
from lakeforge.errors import LakeforgeError
from tests.dashboard.lake import build_gold, copy_stocks
from tests.lakeforge_cli import lakeforge, start

#: A first session installs Superset (minutes) inside the first test that needs it.
INSTALL_TIMEOUT_S = 1800
#: 120,000 trades at 1,500 a second: 80 seconds of trades, two or three minute bars.
TRADES = 120_000
RATE = 1_500


@dataclass
class Site:
    """The session's Superset, its pipeline and what the first provisioning made."""

    pipeline: Path
    server: SupersetServer
    report: ProvisionReport
    admin_password: str

    def admin(self) -> SupersetClient:
        """A REST session logged in as admin, as a person would be."""
        return SupersetClient(self.server.url).login("admin", self.admin_password)


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _say(message: str) -> None:
    print(message, file=sys.stderr)


@pytest.fixture(scope="session")
def superset_environment() -> SupersetEnvironment:
    """Superset's virtual environment: installed from PyPI on a machine's first session."""
    try:
        return SupersetEnvironment().ensure(_say)
    except LakeforgeError as error:
        # Fail, never skip: a dashboard suite that silently does not run proves nothing.
        pytest.fail(f"could not install Superset: {error}", pytrace=False)


@pytest.fixture(scope="session")
def site(
    tmp_path_factory: pytest.TempPathFactory, superset_environment: SupersetEnvironment
) -> Iterator[Site]:
    """Superset serving the provisioned stocks dashboard; stopped after the session."""
    pipeline_dir = copy_stocks(tmp_path_factory.mktemp("dashboard"))
    producer = start(
        "produce", "--count", str(TRADES), "--rate", str(RATE), "--quiet", pipeline=pipeline_dir
    )
    server = SupersetServer(
        load(pipeline_dir), port=free_port(), environment=superset_environment, progress=_say
    )
    try:
        try:
            server.start()
        except LakeforgeError as error:
            pytest.fail(f"Superset did not start: {error}", pytrace=False)
        assert server.new_admin_password is not None, "a first start makes a password"
        _, errors = producer.communicate(timeout=TRADES / RATE * 3)
        assert producer.returncode == 0, errors.decode()
        lakeforge("process", "--until-drained", pipeline=pipeline_dir)
        build_gold(pipeline_dir)
        report = provision(server)
        password = server.new_admin_password.get_secret_value()
        holder = Site(pipeline_dir, server, report, password)
        yield holder
        server = holder.server  # a test may have restarted it
    finally:
        if producer.poll() is None:
            producer.kill()
            producer.wait()
        server.stop()
