"""The command line: help, a new pipeline, and clear errors with exit codes on bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lakeforge.cli.main import COMMANDS
from tests.lakeforge_cli import lakeforge


def test_help_lists_every_command() -> None:
    out = lakeforge("--help").stdout
    for name in COMMANDS:
        assert name in out


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_help(command: str) -> None:
    result = lakeforge(command, "--help")
    assert "Usage:" in result.stdout
    assert len(result.stdout.splitlines()) > 3


def test_new_then_check(tmp_path: Path) -> None:
    target = tmp_path / "mine"
    lakeforge("new", str(target))
    assert (target / "pipeline.yaml").is_file()
    assert (target / "schemas" / "trade.avsc").is_file()
    assert "is valid" in lakeforge("check", pipeline=target).stdout


def test_new_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    result = lakeforge("new", str(tmp_path), check=False)
    assert result.returncode == 2
    assert "not empty" in result.stderr
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_missing_pipeline_directory(tmp_path: Path) -> None:
    result = lakeforge("status", pipeline=tmp_path / "nowhere", check=False)
    assert result.returncode == 2
    assert "does not exist" in result.stderr
    assert "lakeforge new" in result.stderr
    assert "Traceback" not in result.stderr


def test_malformed_pipeline_names_file_and_field(stocks: Path) -> None:
    text = (stocks / "pipeline.yaml").read_text().replace("partitions: 4", "partitions: -4")
    (stocks / "pipeline.yaml").write_text(text)
    result = lakeforge("check", pipeline=stocks, check=False)
    assert result.returncode == 2
    assert "pipeline.yaml" in result.stderr
    assert "topics[0].partitions" in result.stderr
    assert not (stocks / ".lakeforge").exists(), "nothing may be written for a bad pipeline"


def test_bad_environment_variable_is_named(stocks: Path) -> None:
    env = {**os.environ, "LAKEFORGE__STREAM__BATCH_ROWS": "lots"}
    command = [sys.executable, "-m", "lakeforge.cli.main", "check", "--pipeline", str(stocks)]
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 2
    assert "LAKEFORGE__STREAM__BATCH_ROWS" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["produce", "--count", "0"], "Invalid value for '--count'"),
        (["produce", "--rate", "-5"], "Invalid value for '--rate'"),
        (["publish", "quotes"], "unknown topic 'quotes'"),
        (["publish", "trades", "--partition", "9"], "has no partition 9"),
        (["publish", "trades", "--split", "base64-lines"], "line 1: not valid base64"),
        (["dead-letters", "list", "--table", "quotes"], "no bronze table 'quotes'"),
        (["verify", "--nonsense"], "No such option"),
    ],
)
def test_bad_arguments_get_clear_errors(stocks: Path, args: list[str], message: str) -> None:
    result = lakeforge(*args, pipeline=stocks, input=b"not base64 !!\n", check=False)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_publish_appends_raw_bytes(stocks: Path) -> None:
    result = lakeforge("publish", "trades", "--partition", "1", pipeline=stocks, input=b"\x00abc")
    assert "published 1 message(s) to trades[1] at offsets 0..0" in result.stdout


POOL_OF_THE_CLI = (
    "import lakeforge.cli.main, pyarrow; print(pyarrow.default_memory_pool().backend_name)"
)


def pool_of_the_cli(chosen: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    if chosen is not None:
        env["ARROW_DEFAULT_MEMORY_POOL"] = chosen
    return subprocess.run(
        [sys.executable, "-c", POOL_OF_THE_CLI], env=env, capture_output=True, text=True
    )


@pytest.mark.parametrize(
    ("chosen", "pool"), [(None, "jemalloc"), ("", "jemalloc"), ("system", "system")]
)
def test_the_cli_uses_arrows_jemalloc_pool_unless_told_otherwise(
    chosen: str | None, pool: str
) -> None:
    result = pool_of_the_cli(chosen)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == pool
    assert result.stderr == ""


def test_a_pool_arrow_does_not_know_is_named_and_the_command_still_runs() -> None:
    result = pool_of_the_cli("jemaloc")
    assert result.returncode == 0, result.stderr
    assert "Unsupported backend 'jemaloc' specified in ARROW_DEFAULT_MEMORY_POOL" in result.stderr
    assert "jemalloc" in result.stderr.rpartition("supported backends are")[2]
    assert result.stdout.strip() == "mimalloc"
