"""Every layer of the lake as DuckDB views: what ``lakeforge query`` and dashboards read.

Each table of the catalog becomes a view named like it (``bronze.trades``,
``silver.silver_trades``, ``gold.gold_bars_1m``) over ``iceberg_scan`` of its table
directory, which follows ``version-hint.text`` to the latest committed snapshot, so a
view never goes stale. Stream tables are also readable as Delta, in the schema
``<layer>_delta`` (``bronze_delta.trades``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from lakeforge.lake import TableInfo, Warehouse
from lakeforge.serve.extensions import load_lake_extensions

#: Suffix of the schema that holds the Delta views of stream tables.
DELTA_SCHEMA_SUFFIX = "_delta"


@dataclass(frozen=True)
class LakeView:
    """A view over one lake table in one format."""

    schema: str
    name: str
    #: The table function the view selects from, e.g. ``iceberg_scan('/lake/...')``.
    source: str

    @property
    def qualified(self) -> str:
        """``"schema"."name"``, quoted for SQL."""
        return f"{quote_identifier(self.schema)}.{quote_identifier(self.name)}"

    def create_sql(self) -> str:
        """The ``CREATE OR REPLACE VIEW`` statement for this view."""
        return f"CREATE OR REPLACE VIEW {self.qualified} AS SELECT * FROM {self.source}"


def quote_identifier(name: str) -> str:
    """``name`` as a double-quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """``text`` as a single-quoted SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def latest_views(tables: Iterable[TableInfo]) -> list[LakeView]:
    """Views that always read each table's latest committed snapshot."""
    views = []
    for info in tables:
        layer, name = info.name.split(".", 1)
        hint = Path(info.iceberg_location) / "metadata" / "version-hint.text"
        # A table written before lakeforge kept version hints is read at its current
        # metadata file: right now, though not after its next commit.
        where = info.iceberg_location if hint.exists() else info.iceberg_metadata_location
        views.append(LakeView(layer, name, f"iceberg_scan({quote_literal(where)})"))
        if info.delta_location is not None:
            source = f"delta_scan({quote_literal(info.delta_location)})"
            views.append(LakeView(layer + DELTA_SCHEMA_SUFFIX, name, source))
    return views


def create_views(connection: duckdb.DuckDBPyConnection, views: Iterable[LakeView]) -> None:
    """Create ``views`` (and their schemas) in ``connection``."""
    for view in views:
        connection.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(view.schema)}")
        connection.execute(view.create_sql())


def connect_lake(warehouse: Warehouse) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with a view per lake table, latest snapshots."""
    connection = duckdb.connect()
    load_lake_extensions(connection)
    create_views(connection, latest_views(warehouse.list_tables()))
    return connection


def write_serving_database(warehouse: Warehouse, path: Path) -> Path:
    """Write a DuckDB file holding only the lake's views, replacing ``path`` atomically.

    Other processes (a dashboard) open it read-only; they see the new file on their next
    connection and never a half-written one. The file holds no data: the views read the
    lake, and DuckDB loads the iceberg and delta extensions when a view is first used.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}", suffix=".tmp")
    os.close(handle)
    os.unlink(temporary)  # DuckDB creates the file itself; an empty one is not a database
    try:
        connection = duckdb.connect(temporary)
        try:
            load_lake_extensions(connection)
            create_views(connection, latest_views(warehouse.list_tables()))
            connection.execute("CHECKPOINT")
        finally:
            connection.close()
        os.replace(temporary, path)
    finally:
        for leftover in (temporary, temporary + ".wal"):
            if os.path.exists(leftover):
                os.unlink(leftover)
    return path


def serving_database_path(state_path: Path) -> Path:
    """Where a pipeline's serving database lives, under its state directory."""
    return state_path / "lake.duckdb"
