"""Freshness event -> gold: how old each trade's event was when its gold row appeared."""

from __future__ import annotations

from pathlib import Path

import duckdb

from lakeforge.serve.database import quote_identifier
from lakeforge.transform.publish import RUN_COLUMN


def gold_freshness(database: Path, run: int, model: str, column: str) -> dict[str, float]:
    """p50, p99 and max of (now - event time), over the rows run ``run`` brought in.

    ``model`` (``schema.name``) is the model whose rows carry the event time ``column``
    and ``_transform_run`` (``transform.freshness_model`` in ``pipeline.yaml``).
    Measured right after publishing, so it is the delay a reader of gold saw. Empty
    when the model lacks either column.
    """
    schema, name = model.split(".", 1)
    relation = f"{quote_identifier(schema)}.{quote_identifier(name)}"
    # Not read-only: dbt, in this process, may still hold the file open read-write, and
    # DuckDB refuses a second connection with another configuration.
    connection = duckdb.connect(str(database))
    try:
        columns = {
            row[0]
            for row in connection.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = ? AND table_name = ?",
                [schema, name],
            ).fetchall()
        }
        if not {column, RUN_COLUMN} <= columns:
            return {}
        row = connection.execute(
            "SELECT quantile_cont(age, 0.5), quantile_cont(age, 0.99), max(age) FROM ("
            f" SELECT epoch(now()) - epoch({quote_identifier(column)}) AS age"
            f" FROM {relation} WHERE {RUN_COLUMN} = ?)",
            [run],
        ).fetchone()
    finally:
        connection.close()
    if row is None or row[0] is None:
        return {}
    return {"p50": round(row[0], 3), "p99": round(row[1], 3), "max": round(row[2], 3)}
