"""``lakeforge query`` over the lake, and the errors of query and transform."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.lakeforge_cli import lakeforge


@pytest.fixture
def streamed(stocks: Path) -> Path:
    """The stocks example with 2,000 trades in bronze and no transform yet."""
    lakeforge("produce", "--count", "2000", "--rate", "0", pipeline=stocks)
    lakeforge("process", "--until-drained", pipeline=stocks)
    return stocks


def test_query_reads_both_formats_in_three_output_formats(streamed: Path) -> None:
    sql = (
        "SELECT (SELECT count(*) FROM bronze.trades) AS iceberg, "
        "(SELECT count(*) FROM bronze_delta.trades) AS delta"
    )
    as_json = json.loads(lakeforge("query", sql, "--format", "json", pipeline=streamed).stdout)
    assert as_json == [{"iceberg": 2000, "delta": 2000}]
    printed = lakeforge("query", sql, "--format", "csv", pipeline=streamed).stdout
    as_csv = list(csv.reader(io.StringIO(printed)))
    assert as_csv == [["iceberg", "delta"], ["2000", "2000"]]
    table = lakeforge("query", "SELECT symbol FROM bronze.trades", pipeline=streamed).stdout
    assert table.splitlines()[0].strip() == "symbol"
    assert "2,000 rows (1,950 more not shown; --max-rows)" in table


def test_query_errors_name_the_problem_and_the_tables(streamed: Path) -> None:
    syntax = lakeforge("query", "SELEC 1", pipeline=streamed, check=False)
    assert syntax.returncode == 2
    assert "syntax error" in syntax.stderr and "SELEC" in syntax.stderr
    assert "hint: tables: bronze.trades" in syntax.stderr
    missing = lakeforge("query", "SELECT * FROM gold.nothing", pipeline=streamed, check=False)
    assert missing.returncode == 2
    assert "nothing" in missing.stderr and "Traceback" not in missing.stderr
    bad_format = lakeforge("query", "SELECT 1", "--format", "xml", pipeline=streamed, check=False)
    assert bad_format.returncode == 2 and "'xml' is not one of" in bad_format.stderr


def test_transform_before_any_bronze_says_what_to_do(stocks: Path) -> None:
    result = lakeforge("transform", pipeline=stocks, check=False)
    assert result.returncode == 2
    assert "bronze table bronze.trades does not exist yet" in result.stderr
    assert "lakeforge process" in result.stderr


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("  schedule: soon\n", "transform.schedule"),
        ("  threads: 0\n", "transform.threads"),
        ("  project: nowhere\n", "no dbt_project.yml in"),
        ("  freshness_model: silver\n", "transform.freshness_model"),
        ("  colour: blue\n", "transform.colour"),
    ],
)
def test_bad_transform_settings_are_named(stocks: Path, setting: str, message: str) -> None:
    spec = stocks / "pipeline.yaml"
    lines = [line for line in spec.read_text().splitlines(keepends=True)]
    start = lines.index("transform:\n")
    key = setting.split(":")[0]
    kept = [line for line in lines[start + 1 :] if not line.startswith(key + ":")]
    spec.write_text("".join(lines[: start + 1]) + setting + "".join(kept))
    result = lakeforge("check", pipeline=stocks, check=False)
    assert result.returncode == 2, result.stdout
    assert message in result.stderr


def test_a_pipeline_without_transform_says_how_to_add_one(streamed: Path) -> None:
    spec = streamed / "pipeline.yaml"
    text = spec.read_text()
    spec.write_text(text[: text.index("transform:")])
    result = lakeforge("transform", pipeline=streamed, check=False)
    assert result.returncode == 2
    assert "has no transform" in result.stderr and "transform: {project: dbt}" in result.stderr


def test_transform_every_rejects_a_bad_duration(streamed: Path) -> None:
    result = lakeforge("transform", "--every", "0s", pipeline=streamed, check=False)
    assert result.returncode == 2 and "must be more than 0" in result.stderr
    result = lakeforge("transform", "--every", "often", pipeline=streamed, check=False)
    assert result.returncode == 2 and "not a duration" in result.stderr
