"""Load DuckDB's lake extensions from their PyPI packages, never from the internet.

DuckDB normally downloads extensions on first use. lakeforge instead depends on the
``duckdb-extension-<name>`` packages, whose version matches duckdb's, and loads the
extension file they ship, so queries work offline and the version is pinned.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import duckdb

from lakeforge.errors import ConfigError

#: Iceberg reads manifests written in Avro, so it needs the avro extension first.
LAKE_EXTENSIONS = ("avro", "iceberg", "delta")


def extension_file(name: str) -> Path:
    """The ``.duckdb_extension`` file shipped by the ``duckdb-extension-<name>`` package."""
    package = f"duckdb_extension_{name}"
    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or []) if spec else []
    version = f"v{duckdb.__version__}"
    for location in locations:
        found = sorted(Path(location).glob(f"extensions/{version}/{name}.duckdb_extension"))
        if found:
            return found[0]
    raise ConfigError(
        f"DuckDB's {name} extension for duckdb {duckdb.__version__} is not installed",
        f"pip install 'duckdb-extension-{name}=={duckdb.__version__}'",
    )


def load_lake_extensions(connection: duckdb.DuckDBPyConnection) -> None:
    """Load avro, iceberg and delta into ``connection`` from the installed packages."""
    for name in LAKE_EXTENSIONS:
        connection.execute(f"LOAD '{extension_file(name)}'")


def install_lake_extensions(directory: Path) -> Path:
    """Install avro, iceberg and delta into the extension directory ``directory``.

    Another process (a dashboard server in its own virtual environment) whose DuckDB, of
    the same version, uses ``extension_directory=directory`` then loads them on first
    use, without the internet. Returns ``directory``.
    """
    directory.mkdir(parents=True, exist_ok=True)
    connection = duckdb.connect(config={"extension_directory": str(directory)})
    try:
        for name in LAKE_EXTENSIONS:
            connection.execute(f"INSTALL '{extension_file(name)}'")
    finally:
        connection.close()
    return directory
