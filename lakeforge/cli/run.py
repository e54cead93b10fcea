"""``lakeforge run``: the whole local pipeline in one command."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import click

from lakeforge.children import Supervisor
from lakeforge.cli.common import load, pipeline_option, rate, stop_on_signals
from lakeforge.errors import ConfigError
from lakeforge.observe.endpoints import serve_metrics
from lakeforge.observe.option import metrics_port_option
from lakeforge.profiles import open_profile
from lakeforge.registry.server import RegistryServer
from lakeforge.registry.store import EmbeddedRegistry
from lakeforge.stream.lock import runner_lock
from lakeforge.stream.runner import RunnerStats, StreamRunner


def start_producer(pipeline_dir: Path, produce_rate: float | None) -> subprocess.Popen[bytes]:
    """The producer in its own process (and session: Ctrl-C reaches only us, we stop it)."""
    command = [sys.executable, "-m", "lakeforge.cli.main", "produce", "--quiet"]
    command += ["--pipeline", str(pipeline_dir)]
    if produce_rate is not None:
        command += ["--rate", str(produce_rate)]
    return subprocess.Popen(command, start_new_session=True)


def start_transforms(pipeline_dir: Path, every_seconds: float) -> subprocess.Popen[bytes]:
    """Start scheduled transforms in a process of their own.

    A slow or failing dbt build then never slows or stops the stream, and dbt's memory
    stays out of the runner's.
    """
    command = [sys.executable, "-m", "lakeforge.cli.main", "transform", "--quiet"]
    command += ["--pipeline", str(pipeline_dir), "--every", f"{every_seconds}s"]
    return subprocess.Popen(command, start_new_session=True)


def start_maintenance(pipeline_dir: Path, every_seconds: float) -> subprocess.Popen[bytes]:
    """Start ``lakeforge maintain --every`` in a process of its own.

    Compaction reads and writes whole files: out of the runner's process, it takes
    neither its memory nor its commit loop's time.
    """
    command = [sys.executable, "-m", "lakeforge.cli.main", "maintain", "--quiet"]
    command += ["--pipeline", str(pipeline_dir), "--every", f"{every_seconds}s"]
    return subprocess.Popen(command, start_new_session=True)


def start_dashboard(pipeline_dir: Path, port: int) -> subprocess.Popen[bytes]:
    """Start ``lakeforge dashboard`` (Superset) in a process of its own.

    It installs Superset on first use, prints its URL and (first start only) the admin
    password, and provisions the dashboards as soon as their gold tables exist.
    """
    command = [sys.executable, "-m", "lakeforge.cli.main", "dashboard"]
    command += ["--pipeline", str(pipeline_dir), "--port", str(port)]
    return subprocess.Popen(command, start_new_session=True)


@click.command()
@pipeline_option
@click.option("--duration", type=click.FloatRange(min=0), help="Stop after this many seconds.")
@click.option("--rate", "rate_", type=click.FloatRange(min=0), help="Producer records per second.")
@click.option("--no-produce", is_flag=True, help="Only process what arrives on the log.")
@click.option(
    "--no-transform", is_flag=True, help="Do not run the dbt transforms on their schedule."
)
@click.option(
    "--no-maintain",
    is_flag=True,
    help="Do not compact and vacuum the tables on maintain.schedule (lakeforge maintain).",
)
@click.option(
    "--dashboard",
    "with_dashboard",
    is_flag=True,
    help="Also serve the pipeline's dashboards with Superset (lakeforge dashboard).",
)
@click.option(
    "--dashboard-port",
    type=click.IntRange(1, 65535),
    default=8088,
    show_default=True,
    help="Port on 127.0.0.1 for Superset, with --dashboard.",
)
@click.option(
    "--registry-port",
    type=click.IntRange(0, 65535),
    help="Port of the schema registry's REST API (0: any free port). Default: registry.port.",
)
@metrics_port_option
def run(
    pipeline_dir: Path,
    duration: float | None,
    rate_: float | None,
    no_produce: bool,
    no_transform: bool,
    no_maintain: bool,
    with_dashboard: bool,
    dashboard_port: int,
    registry_port: int | None,
    metrics_port: int | None,
) -> None:
    """Produce, process, transform and serve the schema registry until Ctrl-C or --duration.

    Transforms run every transform.schedule (pipeline.yaml) in a process of their own,
    and so does table upkeep (lakeforge maintain) every maintain.schedule. A process
    beside the runner that exits by itself is reported and started again.
    """
    pipeline = load(pipeline_dir)
    if with_dashboard:
        from lakeforge.dashboard.server import check_port_free
        from lakeforge.dashboard.spec import load_dashboards

        load_dashboards(pipeline.directory)  # a bad dashboard file fails before anything runs
        try:
            check_port_free(dashboard_port)
        except ConfigError as e:
            raise ConfigError(e.what, "pass --dashboard-port with a free port") from None
    stop = stop_on_signals()
    port = pipeline.registry.port if registry_port is None else registry_port
    with (
        runner_lock(pipeline),
        open_profile(pipeline) as profile,
        serve_metrics(pipeline, "runner", metrics_port) as metrics,
    ):
        registry = profile.registry
        server = None
        if isinstance(registry, EmbeddedRegistry):
            server = RegistryServer(registry, port=port)
            server.start()
            click.echo(f"schema registry: {server.url}", err=True)
        else:
            click.echo(f"schema registry: {pipeline.registry.url} (not served by run)", err=True)
        if metrics is not None:
            click.echo(f"runner metrics: {metrics.url}", err=True)
        children = Supervisor(lambda problem: click.echo(f"error: {problem}", err=True))
        if not no_produce:
            children.start("producer", lambda: start_producer(pipeline_dir, rate_))
        schedule = pipeline.transform.schedule if pipeline.transform else 0
        if schedule > 0 and not no_transform:
            children.start("transform", lambda: start_transforms(pipeline_dir, schedule / 1000))
        upkeep_every = pipeline.maintain.schedule / 1000
        if upkeep_every > 0 and not no_maintain:
            children.start("maintain", lambda: start_maintenance(pipeline_dir, upkeep_every))
        if with_dashboard:
            children.start("dashboard", lambda: start_dashboard(pipeline_dir, dashboard_port))
        timer = threading.Timer(duration, stop.set) if duration is not None else None
        if timer:
            timer.start()

        def progress(stats: RunnerStats) -> None:
            if stats.batches % 10 == 0:
                click.echo(
                    f"{stats.messages:,} messages in ({rate(stats.messages, stats.seconds)}), "
                    f"{stats.bronze_rows:,} to bronze, {stats.dead_letters:,} dead letters",
                    err=True,
                )

        try:
            with StreamRunner(pipeline, profile) as runner:
                stats = runner.run(stop=stop, on_batch=progress)
        finally:
            if timer:
                timer.cancel()
            children.stop(timeout=60)
            if server is not None:
                server.stop()
    click.echo(
        f"stopped cleanly: {stats.bronze_rows:,} rows to bronze, "
        f"{stats.dead_letters:,} dead letters in {stats.seconds:.1f}s"
    )
