"""The ``lakeforge`` command: one verb per job, a small module per verb."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sys
from typing import Any, NoReturn

import click

from lakeforge import __version__
from lakeforge.errors import ConfigError, LakeforgeError, NotFoundError


def choose_arrow_pool() -> None:
    """Use Arrow's jemalloc pool in lakeforge's processes, unless the user chose one.

    jemalloc hands freed batches back to the system sooner than Arrow's default,
    mimalloc: the runner's peak on a 4M-trade catch-up fell from 466 to 408 MB at the
    same CPU (docs/benchmarks.md). Arrow fixes its pool when pyarrow loads, so this runs
    before any command imports it; ``ARROW_DEFAULT_MEMORY_POOL`` set by the user wins.
    Linux only: pyarrow's wheels there include jemalloc, those elsewhere may not. An
    empty value counts as unset (Arrow would take it silently as its default); a value
    Arrow does not know is Arrow's to report, which it does on stderr, then uses its
    default.
    """
    if sys.platform.startswith("linux") and not os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        os.environ["ARROW_DEFAULT_MEMORY_POOL"] = "jemalloc"


choose_arrow_pool()

COMMANDS = {
    "new": "lakeforge.cli.new:new",
    "check": "lakeforge.cli.check:check",
    "produce": "lakeforge.cli.produce:produce",
    "publish": "lakeforge.cli.publish:publish",
    "process": "lakeforge.cli.process:process",
    "transform": "lakeforge.cli.transform:transform",
    "maintain": "lakeforge.cli.maintain:maintain",
    "query": "lakeforge.cli.query:query",
    "dashboard": "lakeforge.cli.dashboard:dashboard",
    "run": "lakeforge.cli.run:run",
    "status": "lakeforge.cli.status:status",
    "tables": "lakeforge.cli.tables:tables",
    "verify": "lakeforge.cli.verify:verify",
    "dead-letters": "lakeforge.cli.dead_letters:dead_letters",
    "registry": "lakeforge.cli.registry:registry",
}


class LazyGroup(click.Group):
    """Imports a command's module only when that command runs (fast ``--help``)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command, in the order a pipeline uses them."""
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        """Import the module of command ``name``."""
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, attribute = target.split(":")
        module = __import__(module_name, fromlist=[attribute])
        command: click.Command = getattr(module, attribute)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; a lakeforge error becomes a message and an exit code."""
        try:
            return super().invoke(ctx)
        except LakeforgeError as exc:
            click.secho(f"error: {exc.what}", fg="red", err=True)
            if exc.hint:
                click.echo(f"hint: {exc.hint}", err=True)
            code = 2 if isinstance(exc, ConfigError | NotFoundError) else 1
            ctx.exit(code)
        except Exception as exc:
            if locked(exc):
                first_line = str(exc).splitlines()[0]
                click.secho(
                    f"error: a lake database stayed locked by another process past its "
                    f"timeout ({first_line})",
                    fg="red",
                    err=True,
                )
                click.echo(
                    "hint: another lakeforge process (or a tool with the catalog open in a "
                    "long transaction) holds it; see `fuser <state>/warehouse/catalog.db`. "
                    "Nothing half-written is visible; run the command again",
                    err=True,
                )
                ctx.exit(1)
            if not disk_full(exc):
                raise
            click.secho(f"error: no space left on the device: {exc}", fg="red", err=True)
            click.echo(
                "hint: free space there and run the command again; nothing half-written is "
                "visible (a batch that did not commit is read again)",
                err=True,
            )
            ctx.exit(1)


def _chain(error: BaseException) -> list[BaseException]:
    """``error`` and the errors it came from, each once."""
    chain: list[BaseException] = []
    seen: BaseException | None = error
    while seen is not None and all(seen is not known for known in chain):
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    return chain


def locked(error: BaseException) -> bool:
    """Whether ``error`` says an SQLite database (the lake catalog) stayed locked."""
    return any("database is locked" in str(seen) for seen in _chain(error))


def disk_full(error: BaseException) -> bool:
    """Whether ``error``, or one it came from, says the disk is full.

    Each library says it its own way: ``OSError`` errno 28 (pyarrow, Python), SQLite's
    "database or disk is full", delta-rs's "No space left on device (os error 28)".
    """
    for seen in _chain(error):
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        text = str(seen)
        if "No space left on device" in text or "database or disk is full" in text:
            return True
    return False


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lakeforge")
def cli() -> None:
    """Real-time pipelines into an open lakehouse: exactly-once Iceberg and Delta bronze.

    Every command works on the pipeline in the current directory, or the one given
    with --pipeline DIR. Start with 'lakeforge new DIR', then 'lakeforge run'.
    """
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # lakeforge's own INFO lines are the rare events a user wants to see (a schema taken
    # while streaming, partitions moving between runners); libraries stay at WARNING.
    logging.getLogger("lakeforge").setLevel(logging.INFO)


def main() -> None:
    """Entry point of the ``lakeforge`` script."""
    try:
        cli.main(standalone_mode=True)
        code = 0
    except SystemExit as done:
        code = exit_code(done)
    leave(code)


def exit_code(done: SystemExit) -> int:
    """The process exit code ``sys.exit`` asked for (a message is printed, as Python would)."""
    if done.code is None:
        return 0
    if isinstance(done.code, int):
        return done.code
    print(done.code, file=sys.stderr)
    return 1


def leave(code: int) -> NoReturn:
    """Exit with ``code`` once the command is over, without tearing native pools down.

    Arrow's and DuckDB's thread pools, torn down at interpreter exit while one of their
    workers is still alive, abort the process (SIGABRT, "terminate called without an
    active exception") after its work is done: seen under load on `dead-letters
    replay`, a known Arrow issue (apache/arrow#34314). Everything the command does has
    finished here, its files closed by their ``with`` blocks: flush what it printed and
    logged, and leave.
    """
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed pipe: nothing more to say
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
