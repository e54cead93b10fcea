"""The lake as one Superset database: the serving DuckDB file, read through duckdb-engine.

lakeforge writes a DuckDB file holding a view per lake table (``bronze.trades``,
``gold.gold_bars_1m``...) over ``iceberg_scan``, so a chart always reads the latest
snapshot. Superset opens that file read-only, and its DuckDB (the same version as
lakeforge's) loads the iceberg and delta extensions from a folder lakeforge filled from
its own packages: nothing is downloaded, ever.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lakeforge.dashboard.home import SupersetHome
from lakeforge.profiles import local_warehouse
from lakeforge.serve.database import serving_database_path, write_serving_database
from lakeforge.serve.extensions import install_lake_extensions
from lakeforge.spec.model import Pipeline


@dataclass(frozen=True)
class LakeDatabase:
    """The serving file of one pipeline and how Superset connects to it."""

    name: str
    path: Path
    extension_directory: Path

    @property
    def sqlalchemy_uri(self) -> str:
        """duckdb-engine's URI of the file."""
        return f"duckdb:///{self.path}"

    @property
    def extra(self) -> dict[str, Any]:
        """Superset's ``extra``: how duckdb-engine opens the file."""
        config = {
            "extension_directory": str(self.extension_directory),
            # Only what lakeforge installed: never fetch an extension from the internet.
            "autoinstall_known_extensions": False,
        }
        return {
            "engine_params": {"connect_args": {"read_only": True, "config": config}},
            "allows_virtual_table_explore": True,
        }


def prepare_lake(pipeline: Pipeline, home: SupersetHome) -> tuple[LakeDatabase, set[str]]:
    """(Re)write the serving file and the extension folder; return them and the lake's tables."""
    with local_warehouse(pipeline) as warehouse:
        tables = {info.name for info in warehouse.list_tables()}
        path = write_serving_database(warehouse, serving_database_path(pipeline.state_path))
    install_lake_extensions(home.extension_directory)
    database = LakeDatabase(f"{pipeline.name} lake", path, home.extension_directory)
    return database, tables


def lake_tables(pipeline: Pipeline) -> set[str]:
    """The names of the lake's tables now (to notice new ones)."""
    with local_warehouse(pipeline) as warehouse:
        return {info.name for info in warehouse.list_tables()}
