"""``lakeforge run``: producer, runner and registry together, stopped by time or Ctrl-C."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import httpx

from tests.lakeforge_cli import lakeforge, lakeforge_json, start


def test_run_for_a_duration_then_verify(stocks: Path) -> None:
    # 15 s: the producer, transform and upkeep processes start beside the runner, and
    # under a loaded CI machine their start alone took most of an 8 s run once.
    result = lakeforge(
        "run", "--duration", "15", "--rate", "20000", "--registry-port", "0", pipeline=stocks
    )
    said = re.search(r"stopped cleanly: ([\d,]+) rows to bronze", result.stdout)
    assert said, result.stdout
    assert re.search(r"schema registry: http://127\.0\.0\.1:\d+", result.stderr)
    status = lakeforge_json("status", pipeline=stocks)["tables"]["bronze.trades"]
    rows = int(said.group(1).replace(",", ""))
    assert status["rows"]["iceberg"] == status["rows"]["delta"] == rows > 0, result.stderr
    assert lakeforge_json("verify", pipeline=stocks)["ok"]


def test_run_serves_the_registry_and_stops_on_ctrl_c(stocks: Path) -> None:
    process = start("run", "--rate", "5000", "--registry-port", "0", pipeline=stocks)
    assert process.stderr is not None
    url = None
    deadline = time.monotonic() + 60
    while url is None and time.monotonic() < deadline:
        line = process.stderr.readline().decode()
        match = re.search(r"schema registry: (http://127\.0\.0\.1:\d+)", line)
        url = match.group(1) if match else None
    assert url, "run never announced its registry"
    subjects: list[str] = []
    while not subjects and time.monotonic() < deadline:
        time.sleep(0.5)  # the producer registers the schema once it has started
        subjects = httpx.get(f"{url}/subjects", timeout=5).json()
    assert subjects == ["trades-value"]
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 0
    assert lakeforge_json("verify", pipeline=stocks)["ok"]
