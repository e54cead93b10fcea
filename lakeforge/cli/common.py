"""What every command shares: the pipeline option, loading it, and printing."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from lakeforge.errors import LakeforgeError
from lakeforge.spec.load import load_pipeline
from lakeforge.spec.model import Pipeline, parse_duration_ms

if TYPE_CHECKING:
    from lakeforge.codec import AvroSchema

F = TypeVar("F", bound=Callable[..., Any])


PROFILE_VARIABLE = "LAKEFORGE__PROFILE"


def _choose_profile(_context: click.Context, _option: click.Parameter, value: str | None) -> None:
    # Through the environment, like every other setting: the pipeline loader layers it
    # the same way, and the processes `run` starts inherit the choice.
    if value is not None:
        os.environ[PROFILE_VARIABLE] = value


def pipeline_option(command: F) -> F:
    """Add ``--pipeline DIR`` (default: the current directory) and ``--profile``."""
    command = click.option(
        "--profile",
        type=click.Choice(["local", "cluster"]),
        callback=_choose_profile,
        expose_value=False,
        help="Where the pipeline runs: local (embedded log and registry) or cluster "
        "(Kafka and a registry by URL). Default: the pipeline's `profile` setting, "
        f"else local. Same as {PROFILE_VARIABLE}.",
    )(command)
    return click.option(
        "--pipeline",
        "pipeline_dir",
        type=click.Path(path_type=Path, file_okay=False),
        default=Path("."),
        show_default="current directory",
        envvar="LAKEFORGE_PIPELINE",
        help="Folder holding pipeline.yaml.",
    )(command)


def json_option(command: F) -> F:
    """Add ``--json`` for machine-readable output."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")(command)


def load(pipeline_dir: Path) -> Pipeline:
    """Load and fully check the pipeline (structure, schemas, keys, rules)."""
    return load_checked(pipeline_dir)[0]


def load_checked(pipeline_dir: Path) -> tuple[Pipeline, dict[str, AvroSchema]]:
    """Load and fully check the pipeline; also return each topic's parsed schema."""
    from lakeforge.spec.checks import check_pipeline

    pipeline = load_pipeline(pipeline_dir)
    return pipeline, check_pipeline(pipeline)


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON."""
    click.echo(json.dumps(data, indent=2, default=str))


def stop_on_signals() -> threading.Event:
    """An event set by Ctrl-C or SIGTERM, so loops finish their commit and stop."""
    stop = threading.Event()

    def handle(signum: int, _frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        click.echo(
            f"\n{signal.Signals(signum).name}: finishing the current commit, then stopping "
            "(press again to abort)",
            err=True,
        )
        stop.set()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)
    return stop


def every_seconds(_ctx: click.Context, _param: click.Parameter, value: str | None) -> float | None:
    """Click callback: a duration option such as ``--every 10s`` in seconds, more than 0."""
    if value is None:
        return None
    try:
        seconds = parse_duration_ms(value) / 1000
    except ValueError as e:
        raise click.BadParameter(str(e)) from None
    if seconds <= 0:
        raise click.BadParameter("must be more than 0, e.g. 10s")
    return seconds


def repeat_every(seconds: float, round_: Callable[[], None]) -> None:
    """Run ``round_`` every ``seconds`` until Ctrl-C or SIGTERM.

    A failed round is reported and the next one still runs: the stream goes on, and the
    user may be fixing what failed meanwhile.
    """
    stop = stop_on_signals()
    while not stop.is_set():
        began = time.monotonic()
        try:
            round_()
        except LakeforgeError as e:
            click.echo(f"error: {e.what}", err=True)
            if e.hint:
                click.echo(f"hint: {e.hint}", err=True)
        stop.wait(max(0.0, seconds - (time.monotonic() - began)))


def rate(count: float, seconds: float) -> str:
    """A human rate: ``123,456/s``."""
    return f"{count / seconds:,.0f}/s" if seconds > 0 else "-"
