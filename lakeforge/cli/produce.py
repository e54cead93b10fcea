"""``lakeforge produce``: feed the pipeline's topic from its synthetic source."""

from __future__ import annotations

from pathlib import Path

import click

from lakeforge.cli.common import load, pipeline_option, rate, stop_on_signals
from lakeforge.observe.endpoints import serve_metrics
from lakeforge.observe.option import metrics_port_option
from lakeforge.profiles import open_profile
from lakeforge.source.producer import Producer, ProducerStats
from lakeforge.stream.lock import PipelineLock


@click.command()
@pipeline_option
@click.option("--count", type=click.IntRange(min=1), help="Stop after this many records.")
@click.option(
    "--rate",
    "rate_",
    type=click.FloatRange(min=0),
    help="Records per second; 0 is as fast as possible. Default: source.rate.",
)
@click.option("--quiet", is_flag=True, help="Print only the final line.")
@metrics_port_option
def produce(
    pipeline_dir: Path,
    count: int | None,
    rate_: float | None,
    quiet: bool,
    metrics_port: int | None,
) -> None:
    """Generate records and append them to the log until --count or Ctrl-C."""
    pipeline = load(pipeline_dir)
    stop = stop_on_signals()
    # One synthetic producer per pipeline: two would resume from the same last id and
    # hand out the same trade ids twice.
    with (
        PipelineLock(pipeline.state_path / "producer.lock", f"the producer of {pipeline.name!r}"),
        open_profile(pipeline) as profile,
        serve_metrics(pipeline, "producer", metrics_port) as metrics,
    ):
        if metrics is not None and not quiet:
            click.echo(f"metrics: {metrics.url}", err=True)
        producer = Producer(pipeline, profile)
        if producer.first_id > 1 and not quiet:
            click.echo(f"resuming after record id {producer.first_id - 1}", err=True)

        def progress(stats: ProducerStats) -> None:
            if not quiet and stats.batches % 20 == 0:
                click.echo(
                    f"produced {stats.records:,} ({rate(stats.records, stats.seconds)})", err=True
                )

        stats = producer.run(count=count, rate=rate_, stop=stop, on_batch=progress)
    click.echo(
        f"produced {stats.records:,} records to {producer.topic.name!r} in "
        f"{stats.seconds:.1f}s ({rate(stats.records, stats.seconds)})"
    )
