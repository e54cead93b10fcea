"""``lakeforge registry``: serve the embedded schema registry on its own."""

from __future__ import annotations

import threading
from pathlib import Path

import click

from lakeforge.cli.common import load, pipeline_option
from lakeforge.registry.server import RegistryServer
from lakeforge.registry.store import EmbeddedRegistry


@click.command()
@pipeline_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=click.IntRange(0, 65535), help="Port. Default: registry.port.")
def registry(pipeline_dir: Path, host: str, port: int | None) -> None:
    """Serve the pipeline's schema registry over the Confluent REST API."""
    pipeline = load(pipeline_dir)
    pipeline.state_path.mkdir(parents=True, exist_ok=True)
    store = EmbeddedRegistry(pipeline.state_path / "registry.db")
    server = RegistryServer(store, host=host, port=pipeline.registry.port if port is None else port)
    try:
        server.start()  # bound first, so that --port 0 announces the port it got
        click.echo(f"schema registry serving the Confluent REST API on {server.url}", err=True)
        threading.Event().wait()  # serves until Ctrl-C
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        store.close()
