"""``lakeforge status``: lag per partition, dead letters by kind, rates, the last transform."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from lakeforge.lake.table import CRASH_ENV
from tests.lakeforge_cli import lakeforge, lakeforge_json, start

#: A wrong magic byte, then a message too short to hold a header.
BAD_MAGIC = b"\x07" + b"\x00" * 12


def last_run(pipeline: Path) -> Path:
    path = pipeline / ".lakeforge" / "transform" / "last_run.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def test_status_after_a_run_with_dead_letters(stocks: Path) -> None:
    lakeforge("produce", "--count", "3000", "--rate", "0", "--quiet", pipeline=stocks)
    for _ in range(3):
        lakeforge("publish", "trades", "--partition", "2", pipeline=stocks, input=BAD_MAGIC)
    lakeforge("process", "--until-drained", "--quiet", pipeline=stocks)
    lakeforge("produce", "--count", "500", "--rate", "0", "--quiet", pipeline=stocks)

    report = lakeforge_json("status", pipeline=stocks)
    table = report["tables"]["bronze.trades"]
    ends = report["topics"]["trades"]["end_offsets"]
    assert [p["partition"] for p in table["partitions"]] == [0, 1, 2, 3]
    for p in table["partitions"]:
        assert p["log_end"] == ends[str(p["partition"])]
        assert p["committed"] == table["positions"][str(p["partition"])]
        assert p["lag"] == p["log_end"] - p["committed"]
    assert table["lag"] == sum(p["lag"] for p in table["partitions"]) == 500
    assert table["dead_letters"] == 3
    assert table["dead_letters_by_kind"] == {"bad_magic": 3}
    assert report["processes"] == []
    assert report["rates"]["source"] == "last_commit"
    assert report["rates"]["bronze_per_s"] > 0
    assert report["freshness"]["bronze_s"] > 0
    assert report["transform"]["state"] == "none"

    text = lakeforge("status", pipeline=stocks).stdout
    assert "processes: none running" in text
    assert "dead letters: 3 (bad_magic 3)" in text
    assert "partition" in text and "log end" in text and "committed" in text
    assert "transform: no transform yet" in text


def test_a_transform_report_is_shown(stocks: Path) -> None:
    report = {
        "run": 7,
        "status": "error",
        "started_at": "2026-06-01T10:00:00+00:00",
        "finished_at": "2026-06-01T10:00:04.5+00:00",
        "duration_seconds": 4.5,
        "models": [
            {"name": "silver.silver_trades", "status": "success", "rows": 1200, "seconds": 1.5},
            {"name": "gold.ohlcv_1m", "status": "error", "rows": None, "seconds": 0.25},
            {"name": "not_null_x", "kind": "test", "status": "pass", "seconds": 0.1},
            {
                "name": "unique_y",
                "kind": "test",
                "status": "fail",
                "seconds": 0.2,
                "message": "Got 3 results",
            },
        ],
        "error": "gold.ohlcv_1m: Binder Error",
        "gold_freshness_seconds": {"p50": 2.0, "p99": 3.5, "max": 4.0},
    }
    last_run(stocks).write_text(json.dumps(report))
    transform = lakeforge_json("status", pipeline=stocks)["transform"]
    assert transform["state"] == "ok"
    assert (transform["run"], transform["status"], transform["error"]) == (
        7, "error", "gold.ohlcv_1m: Binder Error"
    )  # fmt: skip
    assert [m["rows"] for m in transform["models"]] == [1200, None, None, None]
    text = lakeforge("status", pipeline=stocks).stdout
    assert "transform: run 7 error" in text
    assert "error: gold.ohlcv_1m: Binder Error" in text
    assert "silver.silver_trades: success 1,200 rows published in 1.5s" in text
    # Models always; tests only when they did not pass, with dbt's message.
    assert "unique_y: fail in 0.2s: Got 3 results" in text
    assert "not_null_x" not in text and "1 test passed" in text
    assert "gold freshness: p50 2.0s, p99 3.5s, max 4.0s" in text


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{ half a file", "is not valid JSON"),
        ("[1, 2]", "does not hold a JSON object"),
        ('{"run": "seven"}', "has no valid 'run'"),
        (
            '{"run": 1, "status": "maybe", "started_at": "", "finished_at": "", '
            '"duration_seconds": 1, "models": []}',
            "has status 'maybe'",
        ),
        (
            '{"run": 1, "status": "success", "started_at": "", "finished_at": "", '
            '"duration_seconds": 1, "models": [{"rows": 3}]}',
            "has a model without a name and status",
        ),
    ],
    ids=["truncated", "not-an-object", "bad-run", "bad-status", "bad-model"],
)
def test_a_malformed_transform_report_is_a_note(stocks: Path, content: str, problem: str) -> None:
    last_run(stocks).write_text(content)
    result = lakeforge("status", pipeline=stocks)
    assert "Traceback" not in result.stderr
    assert f"the last report is unreadable: last_run.json {problem}" in result.stdout
    transform = lakeforge_json("status", pipeline=stocks)["transform"]
    assert transform["state"] == "unreadable"
    assert problem in transform["problem"]


def test_dead_letter_kinds_stay_exact_after_a_crash_between_commits(stocks: Path) -> None:
    lakeforge("produce", "--count", "2000", "--rate", "0", "--quiet", pipeline=stocks)
    for _ in range(2):
        lakeforge("publish", "trades", "--partition", "1", pipeline=stocks, input=BAD_MAGIC)
    lakeforge("publish", "trades", "--partition", "3", pipeline=stocks, input=b"\x00\x00")
    # The first commit of the batch is its dead letters: the runner dies right after it,
    # before bronze, and leaves its endpoint file behind.
    crashed = start("process", "--until-drained", pipeline=stocks, env={CRASH_ENV: "delta"})
    assert crashed.wait(timeout=120) == -signal.SIGKILL
    assert (stocks / ".lakeforge" / "run" / "runner.json").exists()

    # The batch read again holds the 3 stored letters and a new one: only that one counts.
    lakeforge("publish", "trades", "--partition", "0", pipeline=stocks, input=BAD_MAGIC)
    lakeforge("process", "--until-drained", "--quiet", pipeline=stocks)
    report = lakeforge_json("status", pipeline=stocks)
    table = report["tables"]["bronze.trades"]
    assert table["rows"]["delta"] == 2000
    assert table["dead_letters"] == 4
    kinds = table["dead_letters_by_kind"]
    assert sum(kinds.values()) == 4 and kinds["bad_magic"] == 3, kinds
    assert report["processes"] == []  # the dead runner's file names a dead pid
