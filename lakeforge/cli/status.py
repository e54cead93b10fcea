"""``lakeforge status``: processes, rates, freshness, lag, dead letters and the last transform."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from lakeforge.cli.common import json_option, load, pipeline_option, print_json
from lakeforge.profiles import open_profile
from lakeforge.status import pipeline_status


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}s"


def _ago(value: float | None) -> str:
    """An age a person reads at a glance: 42.0s, 17m, 5h, 3d."""
    if value is None or value < 120:
        return _seconds(value)
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if value >= 2 * size:
            return f"{value / size:,.0f}{unit}"
    return f"{value / 60:,.0f}m"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}/s"


def _processes(report: dict[str, Any]) -> list[str]:
    if not report["processes"]:
        return ["processes: none running (or none serving metrics)"]
    lines = ["processes:"]
    for process in report["processes"]:
        state = "" if process["answering"] else f"  NOT ANSWERING ({process['problem']})"
        lines.append(f"  {process['role']:<10} pid {process['pid']:<8} {process['url']}{state}")
    return lines


def _rates(report: dict[str, Any]) -> list[str]:
    rates = report["rates"]
    if rates["source"] == "processes":
        return [
            f"rates (over {rates['window_s']:.1f}s): produced {_rate(rates['produced_per_s'])}, "
            f"to bronze {_rate(rates['bronze_per_s'])}, "
            f"dead letters {_rate(rates['dead_letters_per_s'])}"
        ]
    if rates["source"] == "last_commit":
        bronze = _rate(rates["bronze_per_s"])
        return [f"rates: nothing running; bronze took {bronze} up to its last commit"]
    return ["rates: nothing running, and no commit recorded a rate yet"]


def _freshness(report: dict[str, Any]) -> list[str]:
    freshness = report["freshness"]
    parts = [f"newest event in bronze is {_ago(freshness['bronze_s'])} old"]
    live = sorted(freshness["last_commit_s"].items())
    if live:
        layers = ", ".join(f"event -> {layer} {_seconds(seconds)}" for layer, seconds in live)
        parts.append(f"{layers} (slowest record of the last commit)")
    return ["freshness: " + "; ".join(parts)]


def _table(name: str, table: dict[str, Any]) -> list[str]:
    rows = table["rows"]
    lines = [
        f"table {name} (from topic {table['topic']}): iceberg {rows['iceberg']:,} rows, "
        f"delta {rows['delta']:,} rows, last commit {_ago(table.get('last_commit_age_s'))} "
        f"ago, newest event {_ago(table.get('freshness_s'))} old",
        f"  {'partition':>9} {'log end':>14} {'committed':>14} {'lag':>12}",
    ]
    for p in table["partitions"]:
        lines.append(
            f"  {p['partition']:>9} {p['log_end']:>14,} {p['committed']:>14,} {p['lag']:>12,}"
        )
    lines.append(f"  {'total':>9} {'':>14} {'':>14} {table['lag']:>12,}")
    kinds = ", ".join(f"{k} {n:,}" for k, n in sorted(table["dead_letters_by_kind"].items()))
    lines.append(f"  dead letters: {table['dead_letters']:,}" + (f" ({kinds})" if kinds else ""))
    return lines


def _transform(transform: dict[str, Any]) -> list[str]:
    if transform["state"] == "none":
        return ["transform: no transform yet"]
    if transform["state"] == "unreadable":
        return [
            f"transform: the last report is unreadable: {transform['problem']}",
            f"  ({transform['path']}; the next transform run rewrites it)",
        ]
    models = transform["models"]
    failed = [m for m in models if m["status"] not in ("success", "pass")]
    age = transform["finished_age_s"]
    ago = "" if age is None else f" ({_ago(age)} ago)"
    lines = [
        f"transform: run {transform['run']} {transform['status']}, finished "
        f"{transform['finished_at']}{ago}, took {_seconds(transform['duration_seconds'])}; "
        f"models and tests: {len(models)}, not successful: {len(failed)}"
    ]
    if transform["error"]:
        lines.append(f"  error: {transform['error']}")
    gold = transform["gold_freshness_seconds"]
    if gold:
        lines.append(
            "  gold freshness: " + ", ".join(f"{k} {_seconds(v)}" for k, v in gold.items())
        )
    # Every model, but only the tests that did not pass: a project has dozens of tests.
    for model in models:
        if model.get("kind", "model") != "model" and model not in failed:
            continue
        rows = f" {model['rows']:,} rows published" if model["rows"] else ""
        message = f": {model['message']}" if model in failed and model.get("message") else ""
        lines.append(
            f"  {model['name']}: {model['status']}{rows} in {_seconds(model['seconds'])}{message}"
        )
    passed = sum(1 for m in models if m.get("kind") == "test" and m not in failed)
    if passed:
        lines.append(f"  {passed} test{'s' if passed != 1 else ''} passed")
    return lines


@click.command()
@pipeline_option
@json_option
def status(pipeline_dir: Path, as_json: bool) -> None:
    """Show what runs, its rates, freshness, lag per partition, dead letters and transforms.

    While processes run, their metrics are read twice, a second apart, to measure rates.
    """
    pipeline = load(pipeline_dir)
    with open_profile(pipeline) as profile:
        report = pipeline_status(pipeline, profile)
    if as_json:
        print_json(report)
        return
    lines = [f"pipeline {report['pipeline']}"]
    lines += _processes(report) + _rates(report) + _freshness(report)
    for name, topic in report["topics"].items():
        lines.append(
            f"topic {name}: {topic['partitions']} partitions, "
            f"{topic['messages_held']:,} messages held"
        )
    for name, table in report["tables"].items():
        if table.get("kind") != "dead_letters":
            lines += _table(name, table)
    lines += _transform(report["transform"])
    click.echo("\n".join(lines))
