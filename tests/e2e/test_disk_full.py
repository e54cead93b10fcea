"""The disk fills up under a running pipeline: a clear error, nothing partial, then resume.

The pipeline's state lives on a small tmpfs of its own (mounting one needs root, which
CI has), filled to the last byte by a file the test then deletes.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakeforge.lake import Warehouse
from tests.lakeforge_cli import lakeforge, lakeforge_json, start
from tests.small_disk import fill, mounted


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 96 MB tmpfs mounted for this test only."""
    with mounted(tmp_path / "small", "96m") as mount:
        yield mount


def committed(pipeline: Path) -> int:
    with Warehouse(pipeline / ".lakeforge" / "warehouse") as warehouse:
        return sum(warehouse.open_table("bronze.trades").positions().values())


def test_a_full_disk_stops_the_runner_clearly_and_it_resumes(
    stocks: Path, small_disk: Path
) -> None:
    pipeline = small_disk / "stocks"
    shutil.copytree(stocks, pipeline)
    lakeforge("produce", "--count", "50000", "--rate", "0", "--quiet", pipeline=pipeline)
    lakeforge("process", "--until-drained", "--quiet", pipeline=pipeline)
    lakeforge("produce", "--count", "250000", "--rate", "0", "--quiet", pipeline=pipeline)

    # Small batches, so the disk fills between commits of a running runner.
    runner = start("process", pipeline=pipeline, env={"LAKEFORGE__STREAM__BATCH_ROWS": "5000"})
    deadline = time.monotonic() + 120
    while committed(pipeline) < 60_000:
        assert time.monotonic() < deadline and runner.poll() is None, "no progress"
        time.sleep(0.2)
    filler = fill(small_disk)
    try:
        out, err = runner.communicate(timeout=120)
    finally:
        if runner.poll() is None:
            runner.kill()
    output = err.decode() + out.decode()
    assert committed(pipeline) < 300_000, "it finished before the disk filled: proves nothing"
    assert runner.returncode == 1, output
    assert "error: no space left on the device" in output, output
    assert "run the command again" in output and "Traceback" not in output

    # Whatever was committed is whole: both formats agree, nothing lost or doubled.
    filler.unlink()
    report = lakeforge_json("verify", pipeline=pipeline)
    assert report["ok"], report
    lakeforge("process", "--until-drained", "--quiet", pipeline=pipeline)
    report = lakeforge_json("verify", pipeline=pipeline)
    assert report["ok"], report
    status = lakeforge_json("status", pipeline=pipeline)
    assert status["tables"]["bronze.trades"]["rows"] == {"iceberg": 300_000, "delta": 300_000}


def test_a_full_disk_before_the_runner_starts_is_named(stocks: Path, small_disk: Path) -> None:
    pipeline = small_disk / "stocks"
    shutil.copytree(stocks, pipeline)
    lakeforge("produce", "--count", "1000", "--rate", "0", "--quiet", pipeline=pipeline)
    filler = fill(small_disk)
    result = lakeforge("process", "--until-drained", pipeline=pipeline, check=False)
    assert result.returncode == 1
    assert "error: no space left on the device" in result.stderr, result.stderr
    filler.unlink()
    lakeforge("process", "--until-drained", "--quiet", pipeline=pipeline)
    assert lakeforge_json("verify", pipeline=pipeline)["ok"]
