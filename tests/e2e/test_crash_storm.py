"""A small crash storm (bench/crash_storm.py) in the normal suite.

200k trades stream through the real commands while the runner is SIGKILLed 8 times, the
producer twice and a transform once; afterwards nothing is lost or duplicated in bronze
(both formats), silver or gold. The full storm (2M trades, 50 runner kills) is the
benchmark itself: docs/reliability.md.
"""

from __future__ import annotations

from pathlib import Path

from bench.crash_storm import StormConfig, run_storm

TRADES = 200_000
RUNNER_KILLS = 8


def test_crash_storm_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    config = StormConfig(
        trades=TRADES,
        kills=RUNNER_KILLS,
        producer_kills=2,
        transform_kills=1,
        seed=7,
        kill_delay=(0.3, 1.5),
        workdir=tmp_path / "storm",
        step_timeout_s=120,
    )
    summary = run_storm(config)
    # Where to look when it fails: the pipeline and every process's log are kept.
    context = f"failures: {summary['failures']}; kept in {summary['workdir']}"
    assert summary["failures"] == [], context
    assert summary["kills"] == {"runner": RUNNER_KILLS, "producer": 2, "transform": 1}

    # The kills hit a working runner mid-stream: each had committed, the stream was not
    # over, and most found trades on the log it had not committed yet.
    kills = summary["runner_kill_log"]
    assert all(k["committed_by_runner"] > 0 for k in kills), kills
    assert all(0 < k["committed"] < TRADES for k in kills), kills
    assert sum(k["uncommitted"] > 0 for k in kills) >= RUNNER_KILLS // 2, kills
    committed = [k["committed"] for k in kills]
    assert committed == sorted(committed) and committed[-1] > committed[0], committed
    # Every restarted runner recovered and committed again.
    assert len(summary["recovery_s"]["each"]) == RUNNER_KILLS, summary["recovery_s"]

    # Each producer kill came mid-stream, and the restarted producer resumed after the
    # highest trade id on the log: below it, it would have handed out ids twice.
    for kill in summary["producer_kill_log"]:
        assert 0 < kill["log_end"] < TRADES, kill
        assert kill["resumed_after_id"] is not None, kill
        assert kill["resumed_after_id"] >= kill["log_end"], kill
    # The transform was killed in the middle of its run.
    assert summary["transform_kill_log"][0]["after_s"] > 0

    verify = summary["verify"]
    assert verify["ok"] and verify["exit_code"] == 0, verify
    assert verify["missing"] == verify["duplicates"] == verify["unknown"] == 0, verify
    assert verify["position"] == verify["log_end"] == TRADES, verify
    assert verify["iceberg_rows"] == verify["delta_rows"] == TRADES, verify

    bronze = summary["bronze"]
    assert bronze["iceberg_rows"] == bronze["iceberg_trade_ids"] == TRADES, bronze
    assert bronze["delta_rows"] == bronze["delta_trade_ids"] == TRADES, bronze
    assert bronze["dead_letters"] == 0, bronze

    assert summary["transform"]["status"] == "success", summary["transform"]
    layers = summary["layers"]
    assert layers["silver_rows"] == layers["silver_trade_ids"] == TRADES, layers
    assert layers["bars"] == layers["bar_keys"] > 0, layers
    assert layers["bar_trades"] == TRADES, layers
    assert layers["days"] == layers["day_keys"] > 0, layers
    assert layers["day_trades"] == TRADES, layers

    failed = [name for name, passed in summary["checks"].items() if not passed]
    assert failed == [], context
    assert summary["ok"]
