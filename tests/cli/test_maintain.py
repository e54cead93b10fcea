"""``lakeforge maintain`` and its schedule in ``lakeforge run``, on the stocks pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from deltalake import DeltaTable

from tests.lakeforge_cli import lakeforge, lakeforge_json


def _bronze_delta(stocks: Path) -> DeltaTable:
    return DeltaTable(str(stocks / ".lakeforge/warehouse/delta/bronze/trades"))


def _silver_trades(stocks: Path) -> tuple[int, int]:
    sql = "select count(*) as n, count(distinct trade_id) as ids from silver.silver_trades"
    rows = json.loads(lakeforge("query", "--format", "json", sql, pipeline=stocks).stdout)
    return rows[0]["n"], rows[0]["ids"]


def test_maintain_compacts_bronze_under_incremental_transforms(
    stocks: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small batches, so that a few thousand trades make many files.
    monkeypatch.setenv("LAKEFORGE__STREAM__BATCH_ROWS", "1000")
    lakeforge("produce", "--count", "20000", "--rate", "0", pipeline=stocks)
    lakeforge("process", "--until-drained", pipeline=stocks)
    lakeforge("transform", pipeline=stocks)  # silver reads bronze incrementally from here
    files_before = len(_bronze_delta(stocks).file_uris())
    assert files_before >= 20

    report = lakeforge_json("maintain", pipeline=stocks)["tables"]
    bronze = next(t for t in report if t["table"] == "bronze.trades")
    assert bronze["files_before"] == files_before
    assert bronze["files_after"] == 1 and bronze["compactions"] == 1
    assert bronze["deleted_data_files"] == 0  # readers may need them for an hour

    lakeforge("produce", "--count", "5000", "--rate", "0", pipeline=stocks)
    lakeforge("process", "--until-drained", pipeline=stocks)
    assert lakeforge_json("verify", pipeline=stocks)["ok"]
    # The compacted file holds old trades in a new file: silver must not take them again.
    lakeforge("transform", pipeline=stocks)
    assert _silver_trades(stocks) == (25_000, 25_000)
    again = lakeforge("maintain", pipeline=stocks).stdout
    assert "bronze.trades: 6 -> 1 files (1 compactions of 6 files)" in again


def test_maintain_before_any_stream_says_so(stocks: Path) -> None:
    assert "nothing to maintain" in lakeforge("maintain", pipeline=stocks).stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--retain-hours", "0"], "Invalid value for '--retain-hours'"),
        (["--target-file-mb", "0"], "Invalid value for '--target-file-mb'"),
        (["--every", "0s"], "must be more than 0"),
        (["--every", "soon"], "Invalid value for '--every'"),
    ],
)
def test_bad_maintain_arguments(stocks: Path, args: list[str], message: str) -> None:
    result = lakeforge("maintain", *args, pipeline=stocks, check=False)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_a_retention_under_an_hour_is_refused_in_pipeline_yaml(stocks: Path) -> None:
    spec = stocks / "pipeline.yaml"
    spec.write_text(spec.read_text() + "\nmaintain:\n  retain_hours: 0\n")
    result = lakeforge("maintain", pipeline=stocks, check=False)
    assert result.returncode == 2
    assert "maintain.retain_hours" in result.stderr


def test_run_maintains_on_its_schedule(stocks: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEFORGE__MAINTAIN__SCHEDULE", "3s")
    monkeypatch.setenv("LAKEFORGE__STREAM__BATCH_INTERVAL", "100ms")
    lakeforge(
        "run",
        "--duration",
        "12",
        "--rate",
        "5000",
        "--no-transform",
        "--registry-port",
        "0",
        pipeline=stocks,
    )
    history = _bronze_delta(stocks).history()
    compactions = [c for c in history if "lakeforge.compacted_files" in c]
    batches = [c for c in history if "lakeforge.sequence" in c]
    assert compactions, "run never compacted"
    assert len(_bronze_delta(stocks).file_uris()) < len(batches) - len(compactions)
    assert lakeforge_json("verify", pipeline=stocks)["ok"]
