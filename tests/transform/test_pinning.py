"""A build's pinned bronze stays readable while the stream commits and cleans up."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from lakeforge.profiles import local_warehouse
from lakeforge.serve.database import create_views
from lakeforge.serve.extensions import load_lake_extensions
from lakeforge.spec.checks import check_pipeline
from lakeforge.spec.load import load_pipeline
from lakeforge.transform.bronze_views import pinned_bronze_views
from tests.lakeforge_cli import lakeforge


def test_pinned_bronze_outlives_the_streams_metadata_cleanup(stocks: Path, tmp_path: Path) -> None:
    lakeforge("produce", "--count", "1000", "--rate", "0", pipeline=stocks)
    lakeforge("process", "--until-drained", pipeline=stocks)
    pipeline = load_pipeline(stocks)
    check_pipeline(pipeline)
    with local_warehouse(pipeline) as warehouse:
        views = pinned_bronze_views(pipeline, warehouse, tmp_path / "pins")
        [original] = [
            Path(t.iceberg_metadata_location)
            for t in warehouse.list_tables()
            if t.name == "bronze.trades"
        ]

    # Thirty more commits: the stream keeps 20 metadata files, so the pinned one goes.
    os.environ["LAKEFORGE__STREAM__BATCH_ROWS"] = "100"
    try:
        lakeforge("produce", "--count", "3000", "--rate", "0", pipeline=stocks)
        lakeforge("process", "--until-drained", pipeline=stocks)
    finally:
        del os.environ["LAKEFORGE__STREAM__BATCH_ROWS"]
    assert not original.exists()

    connection = duckdb.connect()
    load_lake_extensions(connection)
    create_views(connection, views)
    for schema in ("bronze", "bronze_delta"):
        count = connection.execute(f"SELECT count(*) FROM {schema}.trades").fetchone()
        assert count == (1000,), schema
