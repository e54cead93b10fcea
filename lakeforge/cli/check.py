"""``lakeforge check``: validate a pipeline without running it."""

from __future__ import annotations

from pathlib import Path

import click

from lakeforge.cli.common import json_option, load, pipeline_option, print_json


@click.command()
@pipeline_option
@json_option
def check(pipeline_dir: Path, as_json: bool) -> None:
    """Validate pipeline.yaml, its schemas, keys and rules; write nothing."""
    pipeline = load(pipeline_dir)
    if as_json:
        print_json({"ok": True, "pipeline": pipeline.name})
    else:
        click.echo(
            f"pipeline {pipeline.name!r} is valid: {len(pipeline.topics)} topic(s), "
            f"{len(pipeline.bronze)} bronze table(s)"
        )
