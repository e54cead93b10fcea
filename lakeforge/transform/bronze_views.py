"""Bronze as dbt reads it: both formats pinned to one committed state per build.

Before each build, the working database gets views ``bronze.<table>`` (Iceberg, at the
current metadata file) and ``bronze_delta.<table>`` (Delta, at the version holding the
same batches). The stream keeps committing meanwhile; a build, and the test that both
formats give the same silver, see one state.

The pinned Iceberg metadata file is copied first: the stream keeps only the last few
metadata files (seconds' worth at full rate) and would delete it under a long build.
The manifests and data files it names stay: the stream never deletes those.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import urlparse

from lakeforge.errors import NotFoundError
from lakeforge.lake import Warehouse
from lakeforge.serve.database import DELTA_SCHEMA_SUFFIX, LakeView, quote_literal
from lakeforge.spec.model import Pipeline
from lakeforge.stream.dead_letters import BRONZE_NAMESPACE, bronze_table_name

#: Attempts at copying a metadata file the stream may delete meanwhile.
PIN_ATTEMPTS = 5


def pinned_bronze_views(pipeline: Pipeline, warehouse: Warehouse, pins: Path) -> list[LakeView]:
    """A view per bronze table and format, at the state both formats share now.

    The Iceberg metadata files are copied into the folder ``pins``.
    """
    for attempt in range(PIN_ATTEMPTS):
        try:
            return _pin(pipeline, warehouse, pins)
        except FileNotFoundError:
            # The stream committed and cleaned up between listing and copying: list again.
            if attempt + 1 == PIN_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def _pin(pipeline: Pipeline, warehouse: Warehouse, pins: Path) -> list[LakeView]:
    pins.mkdir(parents=True, exist_ok=True)
    tables = {info.name: info for info in warehouse.list_tables()}
    views = []
    for bronze in pipeline.bronze:
        info = tables.get(bronze_table_name(bronze.table))
        if info is None or info.delta_location is None:
            raise NotFoundError(
                f"bronze table {bronze_table_name(bronze.table)} does not exist yet",
                hint="stream some data first: `lakeforge process` or `lakeforge run`",
            )
        pinned = pins / f"{info.name}.metadata.json"
        # Copied whole, then renamed: `lakeforge maintain` reads pins to keep their files.
        partial = pinned.with_suffix(".partial")
        shutil.copyfile(urlparse(info.iceberg_metadata_location).path, partial)
        os.replace(partial, pinned)
        iceberg = f"iceberg_scan({quote_literal(str(pinned))})"
        # A table never committed to is Delta's version 0 (its creation). A snapshot by
        # another tool names no version: Delta is then read at its latest.
        version = info.delta_version if info.rows or info.delta_version else 0
        delta = f"delta_scan({quote_literal(info.delta_location)}"
        delta += f", version => {version})" if version is not None else ")"
        views.append(LakeView(BRONZE_NAMESPACE, bronze.table, iceberg))
        views.append(LakeView(BRONZE_NAMESPACE + DELTA_SCHEMA_SUFFIX, bronze.table, delta))
    return views
