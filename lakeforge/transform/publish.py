"""Publishing: copy what dbt built in the working database into the lake, as Iceberg.

dbt builds in a DuckDB database (DuckDB writes no Iceberg catalog but a REST one, and
dbt's materialisations rename tables, which Iceberg catalogs do not all allow). Each
model it built is then published to the lake's catalog under the same name:

- an ``append`` model whose rows carry ``_transform_run`` gets only the rows of runs
  not yet published, so the cost follows what arrived, not the table's size;
- every other model is replaced as a whole (gold tables are small aggregates), unless
  its content fingerprint shows it unchanged: no snapshot is made for nothing.

Each snapshot records its run, so publishing again after a crash appends nothing twice.
If the lake and the working database disagree (a lost working database, a full
refresh), the table is replaced.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from lakeforge.lake import Warehouse
from lakeforge.serve.database import quote_identifier

#: The column by which append models and the lake agree on what is new.
RUN_COLUMN = "_transform_run"


@dataclass(frozen=True)
class BuiltModel:
    """A model dbt built in the working database."""

    schema: str
    name: str
    #: Built by appending rows (``incremental_strategy: append``).
    appends: bool

    @property
    def table(self) -> str:
        """Its lake table name, ``schema.name``."""
        return f"{self.schema}.{self.name}"

    @property
    def relation(self) -> str:
        """The quoted relation in the working database."""
        return f"{quote_identifier(self.schema)}.{quote_identifier(self.name)}"


def publish(
    connection: duckdb.DuckDBPyConnection, warehouse: Warehouse, model: BuiltModel, run: int
) -> int:
    """Publish ``model`` from the working database for ``run``; return the rows written.

    0 when nothing changed since the last publish.
    """
    target = warehouse.published_table(model.table)
    columns = [row[0] for row in connection.execute(f"DESCRIBE {model.relation}").fetchall()]
    if model.appends and RUN_COLUMN in columns:
        published = target.last_run
        held = _count(connection, f"{model.relation} WHERE {RUN_COLUMN} <= {published}")
        if published and held == target.rows:
            rows = _arrow(connection, f"{model.relation} WHERE {RUN_COLUMN} > {published}")
            if rows.num_rows:  # no snapshot for nothing
                target.append(rows, run)
            return int(rows.num_rows)
    count, digest = connection.execute(
        f"SELECT count(*), sum(hash(t)) FROM {model.relation} AS t"
    ).fetchone() or (0, None)
    fingerprint = f"{count}:{digest}"
    if target.fingerprint == fingerprint:
        return 0
    rows = _arrow(connection, model.relation)
    with warnings.catch_warnings():
        # pyiceberg warns when an overwrite deletes nothing (the first publish).
        warnings.simplefilter("ignore", UserWarning)
        target.replace(rows, run, fingerprint)
    return int(rows.num_rows)


def _count(connection: duckdb.DuckDBPyConnection, source: str) -> int:
    row = connection.execute(f"SELECT count(*) FROM {source}").fetchone()
    return int(row[0]) if row else 0


def _arrow(connection: duckdb.DuckDBPyConnection, source: str) -> pa.Table:
    return connection.execute(f"SELECT * FROM {source}").fetch_arrow_table()


def working_database_runs(database: Path) -> int:
    """The highest ``_transform_run`` in any table of the working database (0 if none)."""
    if not database.exists():
        return 0
    # Not read-only: dbt, in this process, may still hold the file open read-write, and
    # DuckDB refuses a second connection with another configuration.
    connection = duckdb.connect(str(database))
    try:
        tables = connection.execute(
            "SELECT table_schema, table_name FROM information_schema.columns "
            "WHERE column_name = ? AND table_schema <> 'main'",
            [RUN_COLUMN],
        ).fetchall()
        highest = 0
        for schema, name in tables:
            relation = f"{quote_identifier(schema)}.{quote_identifier(name)}"
            row = connection.execute(f"SELECT max({RUN_COLUMN}) FROM {relation}").fetchone()
            highest = max(highest, int(row[0] or 0) if row else 0)
        return highest
    finally:
        connection.close()
