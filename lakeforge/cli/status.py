"""``lakeforge status``: offsets, lag, rows, dead letters and freshness."""

from __future__ import annotations

from pathlib import Path

import click

from lakeforge.cli.common import json_option, load, pipeline_option, print_json
from lakeforge.profiles import open_local
from lakeforge.status import pipeline_status


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}s"


@click.command()
@pipeline_option
@json_option
def status(pipeline_dir: Path, as_json: bool) -> None:
    """Show how far each table has got, its lag, dead letters and freshness."""
    pipeline = load(pipeline_dir)
    with open_local(pipeline) as profile:
        report = pipeline_status(pipeline, profile)
    if as_json:
        print_json(report)
        return
    click.echo(f"pipeline {report['pipeline']}")
    for name, topic in report["topics"].items():
        ends = " ".join(f"{p}:{o}" for p, o in sorted(topic["end_offsets"].items()))
        click.echo(f"  topic {name}: {topic['messages_held']:,} messages held, ends {ends}")
    for name, table in report["tables"].items():
        if table.get("kind") == "dead_letters":
            continue
        rows = table["rows"]
        click.echo(
            f"  table {name}: iceberg {rows['iceberg']:,} rows, delta {rows['delta']:,} rows, "
            f"lag {table['lag']:,}, dead letters {table['dead_letters']:,}, "
            f"freshness {_seconds(table.get('freshness_s'))}, "
            f"last commit {_seconds(table.get('last_commit_age_s'))} ago"
        )
