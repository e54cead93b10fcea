"""``lakeforge process``: run the stream runner (log -> bronze, exactly once)."""

from __future__ import annotations

from pathlib import Path

import click

from lakeforge.cli.common import load, pipeline_option, rate, stop_on_signals
from lakeforge.observe import process_metrics
from lakeforge.observe.endpoints import serve_metrics
from lakeforge.observe.option import metrics_port_option
from lakeforge.profiles import open_profile
from lakeforge.stream.lock import runner_lock
from lakeforge.stream.runner import RunnerStats, StreamRunner


def records_behind(pipeline_name: str) -> int:
    """Messages on the log not yet committed, as the runner last measured (its lag gauge)."""
    lag = process_metrics().lag
    return int(
        sum(
            sample.value
            for metric in lag.collect()
            for sample in metric.samples
            if sample.labels.get("pipeline") == pipeline_name
        )
    )


@click.command()
@pipeline_option
@click.option(
    "--until-drained", is_flag=True, help="Stop once every message in the log is committed."
)
@click.option("--quiet", is_flag=True, help="Print only the final line.")
@metrics_port_option
def process(pipeline_dir: Path, until_drained: bool, quiet: bool, metrics_port: int | None) -> None:
    """Decode, validate and commit every message to bronze and dead letters."""
    pipeline = load(pipeline_dir)
    stop = stop_on_signals()
    with (
        runner_lock(pipeline),
        open_profile(pipeline) as profile,
        serve_metrics(pipeline, "runner", metrics_port) as metrics,
        StreamRunner(pipeline, profile) as runner,
    ):
        if metrics is not None and not quiet:
            click.echo(f"metrics: {metrics.url}", err=True)
        if runner.group is not None and not quiet:
            click.echo(f"sharing partitions in consumer group {runner.group.name}", err=True)

        def progress(stats: RunnerStats) -> None:
            if not quiet and stats.batches % 10 == 0:
                click.echo(
                    f"{stats.batches} batches, {stats.messages:,} messages "
                    f"({rate(stats.messages, stats.seconds)}), {stats.dead_letters:,} dead "
                    f"letters, {records_behind(pipeline.name):,} behind",
                    err=True,
                )

        stats = runner.run(stop=stop, until_drained=until_drained, on_batch=progress)
    click.echo(
        f"committed {stats.batches} batches: {stats.bronze_rows:,} rows to bronze, "
        f"{stats.dead_letters:,} dead letters in {stats.seconds:.1f}s "
        f"({rate(stats.messages, stats.seconds)})"
    )
