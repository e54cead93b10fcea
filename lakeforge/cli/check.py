"""``lakeforge check``: validate a pipeline without running it."""

from __future__ import annotations

from pathlib import Path

import click

from lakeforge.cli.common import json_option, load_checked, pipeline_option, print_json
from lakeforge.errors import ConfigError
from lakeforge.stream.compatibility import stored_problems


@click.command()
@pipeline_option
@json_option
@click.option(
    "--offline",
    is_flag=True,
    help="Check the files only: do not compare the schemas with the registry and tables.",
)
def check(pipeline_dir: Path, as_json: bool, offline: bool) -> None:
    """Validate pipeline.yaml, its schemas, keys and rules; write nothing.

    Unless --offline, also check that each schema can be registered in the schema
    registry at its subject's compatibility level, and that existing bronze tables
    would keep their columns.
    """
    pipeline, schemas = load_checked(pipeline_dir)
    problems = [] if offline else stored_problems(pipeline, schemas)
    if problems:
        raise ConfigError(
            f"pipeline {pipeline.name!r} does not fit what is already stored:\n  "
            + "\n  ".join(problems),
            "keep the schema compatible (add fields only as optional, with a default), "
            "or use a new topic and table name",
        )
    if as_json:
        print_json({"ok": True, "pipeline": pipeline.name, "compared_with_stored": not offline})
    else:
        click.echo(
            f"pipeline {pipeline.name!r} is valid: {len(pipeline.topics)} topic(s), "
            f"{len(pipeline.bronze)} bronze table(s)"
            + ("" if offline else "; its schemas fit the registry and the bronze tables")
        )
