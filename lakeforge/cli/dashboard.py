"""``lakeforge dashboard``: the pipeline's dashboards in Apache Superset, on 127.0.0.1."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import click

from lakeforge.cli.common import load, pipeline_option
from lakeforge.dashboard.environment import VENV_VARIABLE
from lakeforge.dashboard.provision import ProvisionReport
from lakeforge.dashboard.server import DEFAULT_PORT, SupersetServer
from lakeforge.dashboard.spec import load_dashboards
from lakeforge.dashboard.watch import CHECK_INTERVAL_S, LakeWatcher


def _progress(message: str) -> None:
    click.echo(message, err=True)


def _interrupt(signum: int, _frame: object) -> None:
    # SIGTERM ends the command as Ctrl-C does: by unwinding, which stops Superset.
    raise KeyboardInterrupt


def _show(report: ProvisionReport) -> None:
    if not report.dashboards and not report.waiting:
        click.echo(
            "no dashboards/*.yaml in this pipeline: Superset holds the lake's database "
            "only (see examples/stocks/dashboards/stock_market.yaml)",
            err=True,
        )
    for dashboard in report.dashboards:
        click.echo(
            f"dashboard {dashboard.title!r}: {dashboard.url} ({len(dashboard.charts)} charts)"
        )
    for title, tables in report.waiting.items():
        click.echo(
            f"dashboard {title!r} waits for {', '.join(tables)}: not in the lake yet; it is "
            "provisioned as soon as they are (run 'lakeforge transform')",
            err=True,
        )


@click.command()
@pipeline_option
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="Port on 127.0.0.1 where Superset listens.",
)
@click.option("--duration", type=click.FloatRange(min=0), help="Stop after this many seconds.")
@click.option(
    "--reset-password",
    is_flag=True,
    help="Give the admin user a new password and print it (the old one stops working).",
)
@click.option(
    "--provision-only",
    is_flag=True,
    help="Start Superset, provision the dashboards, check every chart's query, then stop.",
)
def dashboard(
    pipeline_dir: Path,
    port: int,
    duration: float | None,
    reset_password: bool,
    provision_only: bool,
) -> None:
    """Serve the pipeline's dashboards with Apache Superset until Ctrl-C or --duration.

    Dashboards are described in the pipeline's dashboards/*.yaml; their charts read the
    latest snapshot of each lake table. The first run installs Superset into its own
    virtual environment (a few minutes; set LAKEFORGE_SUPERSET_VENV to choose where) and
    prints the password of the user 'admin', once.
    """
    pipeline = load(pipeline_dir)
    dashboards = load_dashboards(pipeline.directory)  # a bad file fails before anything starts
    signal.signal(signal.SIGTERM, _interrupt)
    server = SupersetServer(pipeline, port, reset_password=reset_password, progress=_progress)
    _progress(f"Superset runs from {server.environment.path} (set {VENV_VARIABLE} to change)")
    served = False
    try:
        with server:
            served = True
            click.echo(f"Superset: {server.url} (user admin)")
            if server.new_admin_password is not None:
                click.echo(f"admin password: {server.new_admin_password.get_secret_value()}")
                click.echo(
                    "  shown only now: Superset keeps its hash alone; "
                    "'lakeforge dashboard --reset-password' makes a new one"
                )
            watcher = LakeWatcher(server, dashboards)
            report = watcher.check()
            assert report is not None  # the first check always provisions
            _show(report)
            if not provision_only:
                _serve(server, watcher, duration)
    except KeyboardInterrupt:
        pass  # Ctrl-C or SIGTERM: leaving the block stopped what had started
    _progress("stopped Superset" if served else "stopped")


def _serve(server: SupersetServer, watcher: LakeWatcher, duration: float | None) -> None:
    """Wait for Ctrl-C or ``duration``; provision again when the lake's tables change."""
    click.echo("serving until Ctrl-C" + (f" or {duration:g}s" if duration is not None else ""))
    deadline = None if duration is None else time.monotonic() + duration
    while deadline is None or time.monotonic() < deadline:
        left = CHECK_INTERVAL_S if deadline is None else deadline - time.monotonic()
        time.sleep(max(min(CHECK_INTERVAL_S, left), 0))
        server.check_running()
        report = watcher.check()
        if report is not None:
            _show(report)
