"""A dbt-duckdb plugin that loads the lake extensions into dbt's DuckDB connections.

dbt-duckdb would ``INSTALL`` extensions from the internet; this loads the files of the
pinned ``duckdb-extension-*`` packages instead, so ``iceberg_scan`` and ``delta_scan``
work offline in every model.
"""

from __future__ import annotations

from dbt.adapters.duckdb.plugins import BasePlugin
from duckdb import DuckDBPyConnection

from lakeforge.serve.extensions import load_lake_extensions


class Plugin(BasePlugin):
    """Named ``Plugin``, as dbt-duckdb requires of a plugin module."""

    def configure_connection(self, conn: DuckDBPyConnection) -> None:
        """Load avro, iceberg and delta into a new connection."""
        load_lake_extensions(conn)
