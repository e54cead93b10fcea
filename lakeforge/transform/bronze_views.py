"""Bronze as dbt reads it: both formats pinned to one committed state per build.

Before each build, the working database gets views ``bronze.<table>`` (Iceberg, at the
current metadata file) and ``bronze_delta.<table>`` (Delta, at the version holding the
same batches). The stream keeps committing meanwhile; a build, and the test that both
formats give the same silver, see one state.
"""

from __future__ import annotations

from lakeforge.errors import NotFoundError
from lakeforge.lake import Warehouse
from lakeforge.serve.database import DELTA_SCHEMA_SUFFIX, LakeView, quote_literal
from lakeforge.spec.model import Pipeline
from lakeforge.stream.dead_letters import BRONZE_NAMESPACE, bronze_table_name


def pinned_bronze_views(pipeline: Pipeline, warehouse: Warehouse) -> list[LakeView]:
    """A view per bronze table and format, at the state both formats share now."""
    tables = {info.name: info for info in warehouse.list_tables()}
    views = []
    for bronze in pipeline.bronze:
        info = tables.get(bronze_table_name(bronze.table))
        if info is None or info.delta_location is None:
            raise NotFoundError(
                f"bronze table {bronze_table_name(bronze.table)} does not exist yet",
                hint="stream some data first: `lakeforge process` or `lakeforge run`",
            )
        iceberg = f"iceberg_scan({quote_literal(info.iceberg_metadata_location)})"
        # A table never committed to is Delta's version 0 (its creation). A snapshot by
        # another tool names no version: Delta is then read at its latest.
        version = info.delta_version if info.rows or info.delta_version else 0
        delta = f"delta_scan({quote_literal(info.delta_location)}"
        delta += f", version => {version})" if version is not None else ")"
        views.append(LakeView(BRONZE_NAMESPACE, bronze.table, iceberg))
        views.append(LakeView(BRONZE_NAMESPACE + DELTA_SCHEMA_SUFFIX, bronze.table, delta))
    return views
