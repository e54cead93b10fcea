"""``lakeforge new``: start a pipeline from a template."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import click

from lakeforge.errors import ConfigError

TEMPLATES = ("stocks",)


@click.command()
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--template",
    type=click.Choice(TEMPLATES),
    default="stocks",
    show_default=True,
    help="Which example to start from.",
)
def new(directory: Path, template: str) -> None:
    """Create a new pipeline in DIRECTORY from a template."""
    if directory.exists() and any(directory.iterdir()):
        raise ConfigError(
            f"{directory} already exists and is not empty",
            "choose a new folder name; lakeforge never overwrites files",
        )
    source = resources.files("lakeforge") / "templates" / template
    with resources.as_file(source) as folder:
        shutil.copytree(
            folder,
            directory,
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns(".lakeforge", "__pycache__", "target", "logs"),
        )
    click.echo(f"created pipeline in {directory}; next: cd {directory} && lakeforge run")
