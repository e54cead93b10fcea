"""``lakeforge query``: SQL over every layer of the lake, through DuckDB."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

import click

from lakeforge.cli.common import load, pipeline_option
from lakeforge.errors import ConfigError

#: Rows printed in table format unless --max-rows says otherwise.
DEFAULT_MAX_ROWS = 50


@click.command()
@pipeline_option
@click.argument("sql")
@click.option(
    "--format",
    "output",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
    help="table for people; csv and json print every row, for tools.",
)
@click.option(
    "--max-rows",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_ROWS,
    show_default=True,
    help="Rows shown in table format.",
)
def query(pipeline_dir: Path, sql: str, output: str, max_rows: int) -> None:
    r"""Run SQL on the lake: every table is a view named like it.

    \b
    bronze.<table>         stream tables, as Iceberg (latest snapshot)
    bronze_delta.<table>   the same tables, as Delta
    silver.<model>, gold.<model>   what `lakeforge transform` published
    Example:
      lakeforge query "SELECT symbol, close, vwap FROM gold.gold_bars_1m LIMIT 5"
    """
    import duckdb

    from lakeforge.profiles import local_warehouse
    from lakeforge.serve.database import connect_lake

    pipeline = load(pipeline_dir)
    with local_warehouse(pipeline) as warehouse:
        connection = connect_lake(warehouse)
        names = sorted(info.name for info in warehouse.list_tables())
    try:
        result = connection.execute(sql)
        columns = [d[0] for d in result.description or []]
        rows = result.fetchall()
    except duckdb.Error as e:
        raise ConfigError(
            f"the query failed: {e}",
            hint=f"tables: {', '.join(names) or 'none yet (run lakeforge process)'}",
        ) from None
    finally:
        connection.close()
    if output == "json":
        data = [dict(zip(columns, row, strict=True)) for row in rows]
        click.echo(json.dumps(data, indent=2, default=str))
    elif output == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
    else:
        click.echo(format_table(columns, rows, max_rows))


def format_table(columns: list[str], rows: list[tuple[Any, ...]], max_rows: int) -> str:
    """Rows as an aligned text table, with the row count under it."""
    shown = [[_cell(value) for value in row] for row in rows[:max_rows]]
    widths = [len(c) for c in columns]
    for row in shown:
        widths = [max(w, len(v)) for w, v in zip(widths, row, strict=True)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)),
        "  ".join("-" * w for w in widths),
    ]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in shown]
    more = f" ({len(rows) - max_rows:,} more not shown; --max-rows)" if len(rows) > max_rows else ""
    lines.append(f"{len(rows):,} row{'s' if len(rows) != 1 else ''}{more}")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
