"""Read the lake as another engine would: pyiceberg on the SQL catalog, no lakeforge code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pyiceberg.catalog.sql import SqlCatalog


def read_iceberg(pipeline: Path, name: str) -> list[dict[str, Any]]:
    """Every row of lake table ``name`` (``schema.table``), through pyiceberg alone."""
    warehouse = pipeline / ".lakeforge" / "warehouse"
    catalog = SqlCatalog(
        "lakeforge", uri=f"sqlite:///{warehouse / 'catalog.db'}", warehouse=str(warehouse)
    )
    try:
        namespace, table = name.split(".")
        rows: list[dict[str, Any]] = (
            catalog.load_table((namespace, table)).scan().to_arrow().to_pylist()
        )
        return rows
    finally:
        catalog.close()
