"""``lakeforge transform``: build silver and gold with dbt and publish them to the lake."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from lakeforge.cli.common import (
    every_seconds,
    json_option,
    load,
    pipeline_option,
    print_json,
    repeat_every,
)
from lakeforge.observe.endpoints import serve_metrics
from lakeforge.observe.option import metrics_port_option

if TYPE_CHECKING:  # the transform package imports dbt: seconds, not for --help
    from lakeforge.transform.report import TransformReport


@click.command()
@pipeline_option
@json_option
@click.option("--full-refresh", is_flag=True, help="Rebuild incremental models from all of bronze.")
@click.option(
    "--select", metavar="SELECTOR", help="dbt node selection, e.g. 'gold_bars_1m+' (default: all)."
)
@click.option(
    "--every",
    metavar="DURATION",
    callback=every_seconds,
    help="Transform again every DURATION (e.g. 10s) until Ctrl-C; a failed run is "
    "reported and the next one still runs.",
)
@click.option("--quiet", is_flag=True, help="Print one line per run (and errors).")
@metrics_port_option
def transform(
    pipeline_dir: Path,
    as_json: bool,
    full_refresh: bool,
    select: str | None,
    every: float | None,
    quiet: bool,
    metrics_port: int | None,
) -> None:
    """Run the pipeline's dbt project on bronze and publish silver and gold as Iceberg.

    Models build incrementally in a working DuckDB database under the state directory,
    then each is published to the lake's catalog under the same name (silver.*,
    gold.*), readable by any Iceberg engine. Exits 1 when a model or test fails; the
    models that built are still published.
    """
    from lakeforge.transform import Transformer
    from lakeforge.transform.dbt_build import NodeResult

    pipeline = load(pipeline_dir)
    transformer = Transformer(pipeline)
    verbose = not quiet and not as_json

    def progress(node: NodeResult) -> None:
        if verbose:
            line = f"  {node.status:8} {node.kind:5} {node.name} ({node.seconds:.2f}s)"
            click.echo(line, err=True)

    if every is None:
        if verbose:
            click.echo(f"transforming {pipeline.name!r} with dbt...", err=True)
        report = transformer.run(full_refresh=full_refresh, select=select, on_node=progress)
        _show(report, as_json)
        if not report.ok:
            sys.exit(1)
        return

    refresh = full_refresh

    def one_round() -> None:
        nonlocal refresh
        report = transformer.run(full_refresh=refresh, select=select, on_node=progress)
        _show(report, as_json)
        refresh = False

    # Only the long-running form serves metrics: a single run ends before a scrape.
    with serve_metrics(pipeline, "transform", metrics_port) as metrics:
        if metrics is not None and verbose:
            click.echo(f"metrics: {metrics.url}", err=True)
        repeat_every(every, one_round)


def _show(report: TransformReport, as_json: bool) -> None:
    if as_json:
        print_json(report.to_json())
        return
    published = [m for m in report.models if m.rows]
    rows = ", ".join(f"{m.name} {m.rows:,} rows" for m in published)
    line = f"transform {report.run}: {report.status} in {report.duration_seconds:.1f}s"
    if report.gold_freshness_seconds:
        fresh = report.gold_freshness_seconds
        line += f", event -> gold p50 {fresh['p50']:.1f}s p99 {fresh['p99']:.1f}s"
    click.echo(f"{line}; published {rows or 'nothing new'}")
    if report.error:
        click.echo(f"error: {report.error}", err=True)
        click.echo(f"hint: dbt's log is {report.log_file}", err=True)
