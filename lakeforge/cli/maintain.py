"""``lakeforge maintain``: compact the stream's tables, clean up their logs, vacuum."""

from __future__ import annotations

from pathlib import Path

import click

from lakeforge.cli.common import (
    every_seconds,
    json_option,
    load,
    pipeline_option,
    print_json,
    repeat_every,
)
from lakeforge.errors import NotFoundError
from lakeforge.lake.maintain import MIB, MaintenanceReport, maintain_table
from lakeforge.profiles import open_profile
from lakeforge.spec.model import Pipeline
from lakeforge.stream.dead_letters import bronze_table_name, dead_letter_table_name


@click.command()
@pipeline_option
@json_option
@click.option(
    "--target-file-mb",
    type=click.IntRange(1, 16_384),
    help="Merge files smaller than half of this into files of about this size "
    "(default: maintain.target_file_mb, 256).",
)
@click.option(
    "--retain-hours",
    type=click.IntRange(min=1),
    help="Keep files readers may still need this long after they leave a table "
    "(default: maintain.retain_hours, 1; at least 1).",
)
@click.option(
    "--every",
    metavar="DURATION",
    callback=every_seconds,
    help="Maintain again every DURATION (e.g. 10m) until Ctrl-C; a failed round is "
    "reported and the next one still runs.",
)
@click.option("--quiet", is_flag=True, help="Print one line per table and round.")
def maintain(
    pipeline_dir: Path,
    as_json: bool,
    target_file_mb: int | None,
    retain_hours: int | None,
    every: float | None,
    quiet: bool,
) -> None:
    """Compact small files, clean up old log entries, and delete files nobody needs.

    Every bronze and dead-letter table: consecutive files smaller than half the target
    are merged, each merge a commit of its own in Iceberg and Delta that changes no row
    (exactly once holds; runners and readers carry on). Files that left a table more
    than --retain-hours ago, and that no kept Iceberg snapshot nor a running
    transform's pinned bronze names, are deleted, with unneeded Iceberg manifests.
    Safe while `lakeforge run` or `process` runs; `lakeforge run` does this every
    maintain.schedule.
    """
    pipeline = load(pipeline_dir)
    target = target_file_mb or pipeline.maintain.target_file_mb
    retain = retain_hours or pipeline.maintain.retain_hours
    if every is None:
        _show(_round(pipeline, target, retain), as_json, quiet)
        return
    repeat_every(every, lambda: _show(_round(pipeline, target, retain), as_json, quiet))


def _round(pipeline: Pipeline, target_file_mb: int, retain_hours: int) -> list[MaintenanceReport]:
    """Maintain every stream table of ``pipeline`` once."""
    pinned = sorted(pipeline.pinned_path.glob("*.metadata.json"))
    reports = []
    with open_profile(pipeline) as profile:
        for bronze in pipeline.bronze:
            for name in (bronze_table_name(bronze.table), dead_letter_table_name(bronze.table)):
                try:
                    table = profile.warehouse.open_table(name)
                except NotFoundError:
                    continue  # nothing streamed into it yet
                reports.append(
                    maintain_table(
                        table,
                        target_file_mb=target_file_mb,
                        retain_hours=retain_hours,
                        pinned=pinned,
                    )
                )
    return reports


def _show(reports: list[MaintenanceReport], as_json: bool, quiet: bool) -> None:
    if as_json:
        print_json({"tables": [r.to_json() for r in reports]})
        return
    if not reports:
        click.echo("no stream tables yet: nothing to maintain")
    for r in reports:
        click.echo(
            f"{r.table}: {r.files_before:,} -> {r.files_after:,} files "
            f"({r.compactions} compactions of {r.files_compacted:,} files); deleted "
            f"{r.vacuum.data_files:,} data and {r.vacuum.metadata_files:,} metadata files "
            f"({r.vacuum.bytes / MIB:,.1f} MiB) in {r.seconds:.1f}s"
        )
    if not quiet and reports and not any(r.compactions or r.vacuum.data_files for r in reports):
        click.echo("hint: nothing to merge or delete yet; files leave after --retain-hours")
