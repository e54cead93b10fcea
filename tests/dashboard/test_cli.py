"""``lakeforge dashboard`` as a user runs it: clear refusals, the password shown once."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from lakeforge.dashboard import SupersetEnvironment
from tests.dashboard.conftest import INSTALL_TIMEOUT_S, free_port
from tests.dashboard.lake import copy_stocks, make_bronze
from tests.lakeforge_cli import lakeforge

BAD_FILES = [
    pytest.param(
        "kind: line\n",
        "kind: pie\n",
        ["charts[0].kind", "'line', 'bar' or 'table'", "'pie'"],
        id="unknown-kind",
    ),
    pytest.param(
        "    dataset: movers\n",
        "    dataset: moves\n",
        ["dataset 'moves' is not one of the datasets of this file", "bars, daily, movers"],
        id="unknown-dataset",
    ),
    pytest.param(
        "refresh: 30s\n",
        "refresh: 30s\ncolour: blue\n",
        ["colour", "unknown setting"],
        id="unknown-setting",
    ),
    pytest.param(
        "    table: gold.gold_bars_1m\n",
        "    table: gold_bars_1m\n",
        ["datasets.bars.table", "'gold_bars_1m'"],
        id="table-without-layer",
    ),
    pytest.param(
        "    x: symbol\n",
        "",
        ["charts[4]", "a bar chart needs x"],
        id="bar-without-x",
    ),
]


@pytest.mark.parametrize(("old", "new", "expected"), BAD_FILES)
def test_a_bad_dashboard_file_is_refused_with_file_and_field(
    stocks: Path, old: str, new: str, expected: list[str]
) -> None:
    path = stocks / "dashboards" / "stock_market.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    result = lakeforge("dashboard", "--port", str(free_port()), pipeline=stocks, check=False)
    assert result.returncode == 2, result.stderr
    assert str(path) in result.stderr
    for fragment in expected:
        assert fragment in result.stderr
    assert "Traceback" not in result.stderr
    assert not (stocks / ".lakeforge" / "superset").exists(), "nothing starts on a bad file"


def test_invalid_yaml_names_the_line(stocks: Path) -> None:
    path = stocks / "dashboards" / "stock_market.yaml"
    path.write_text(path.read_text().replace("title: Stock market", "title: [Stock market"))
    result = lakeforge("dashboard", pipeline=stocks, check=False)
    assert result.returncode == 2
    assert f"{path}:" in result.stderr
    assert "invalid YAML" in result.stderr


def test_a_taken_port_is_named(stocks: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = lakeforge("dashboard", "--port", str(port), pipeline=stocks, check=False)
    assert result.returncode == 2
    assert f"error: port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "--port" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.timeout(INSTALL_TIMEOUT_S)
def test_first_start_prints_the_password_once_and_waits_for_gold(
    tmp_path: Path, superset_environment: SupersetEnvironment
) -> None:
    pipeline = copy_stocks(tmp_path)
    make_bronze(pipeline, 20_000)  # bronze only: no gold table yet
    port = str(free_port())
    first = lakeforge("dashboard", "--port", port, "--provision-only", pipeline=pipeline)
    assert f"Superset: http://127.0.0.1:{port}" in first.stdout
    password = re.search(r"^admin password: (\S+)$", first.stdout, re.MULTILINE)
    assert password is not None, first.stdout
    assert password.group(1) != "admin" and len(password.group(1)) >= 16
    assert "waits for gold.gold_bars_1m, gold.gold_daily_summary, gold.gold_top_movers" in (
        first.stderr
    )
    second = lakeforge("dashboard", "--port", port, "--provision-only", pipeline=pipeline)
    assert "admin password" not in second.stdout
    assert password.group(1) not in second.stdout + second.stderr
