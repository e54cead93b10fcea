"""DuckDB's lake extensions load from the pinned packages, offline."""

from __future__ import annotations

import duckdb
import pytest

from lakeforge.errors import ConfigError
from lakeforge.serve.extensions import extension_file, load_lake_extensions


def test_lake_extensions_load_offline() -> None:
    con = duckdb.connect()
    load_lake_extensions(con)
    loaded = {
        row[0]
        for row in con.sql("SELECT extension_name FROM duckdb_extensions() WHERE loaded").fetchall()
    }
    assert {"avro", "iceberg", "delta"} <= loaded


def test_missing_extension_names_the_package() -> None:
    with pytest.raises(ConfigError, match="spatial extension") as info:
        extension_file("spatial")
    assert f"duckdb-extension-spatial=={duckdb.__version__}" in (info.value.hint or "")
