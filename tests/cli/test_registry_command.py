"""``lakeforge registry``: the embedded registry served on its own."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import httpx

from tests.lakeforge_cli import start


def test_registry_on_any_free_port_announces_the_port_it_got(stocks: Path) -> None:
    process = start("registry", "--port", "0", pipeline=stocks)
    try:
        assert process.stderr is not None
        line = process.stderr.readline().decode()
        match = re.search(r"on (http://127\.0\.0\.1:(\d+))", line)
        assert match and match.group(2) != "0", line
        assert httpx.get(f"{match.group(1)}/subjects", timeout=10).json() == []
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
