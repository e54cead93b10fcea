"""Day partitions: a table's files grouped by the UTC day of one timestamp column.

Bronze tables are partitioned by the day their rows were ingested (``_ingested_at``).
Every batch is ingested at one moment, so each batch file belongs to exactly one day,
and compaction merges files of the same day only: a day holds about (its bytes) /
(target file size) files, however many batches made it.

In Iceberg the partition is hidden, ``day(_ingested_at)``: readers filtering on the
column skip other days' files by the partition values. Delta partitions need a column
of their own holding the value, which the shared files would have to carry in both
formats; instead Delta readers skip by each file's ``_ingested_at`` statistics, which
select the same files. Both formats lay files out as Iceberg does,
``data/ingested_at_day=2026-11-27/...``, so a listing shows the days too.
"""

from __future__ import annotations

import re
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc

from lakeforge.errors import ConfigError

#: The Iceberg partition field's name is the column's with this suffix.
PARTITION_SUFFIX = "_day"
_DIRECTORY = re.compile(r"(?:^|/)[A-Za-z_][A-Za-z0-9_]*_day=(\d{4}-\d{2}-\d{2})/")


def partition_field_name(column: str) -> str:
    """The name of the day partition of ``column``: ``ingested_at_day``.

    Without a leading underscore: it names the files' folder too, and Delta's vacuum
    takes folders starting with ``_`` or ``.`` for hidden ones and never looks inside.
    """
    return f"{column.lstrip('_')}{PARTITION_SUFFIX}"


def day_directory(column: str, day: date) -> str:
    """The directory, under ``data/``, of the files of ``day``."""
    return f"{partition_field_name(column)}={day.isoformat()}"


def day_of_path(path: str) -> str | None:
    """The day (``YYYY-MM-DD``) a data file's path places it in; None if unpartitioned."""
    match = _DIRECTORY.search(path)
    return match.group(1) if match else None


def check_day_column(schema: pa.Schema, column: str) -> None:
    """Refuse a column that cannot partition by day: absent, not a timestamp, nullable.

    The partition's own name must be free too: Iceberg refuses a partition named as a
    column.
    """
    partition = partition_field_name(column)
    if partition in schema.names:
        raise ConfigError(
            f"cannot partition by day of {column!r}: the table has a column named "
            f"{partition!r}, the name of that partition",
            hint=f"rename the field {partition!r} in the schema",
        )
    if column not in schema.names:
        raise ConfigError(
            f"cannot partition by day of {column!r}: the table has no such column",
            hint=f"columns: {', '.join(schema.names)}",
        )
    field = schema.field(column)
    if not pa.types.is_timestamp(field.type) or field.type.tz is None or field.nullable:
        raise ConfigError(
            f"cannot partition by day of {column!r}: it is {field.type}"
            f"{' (nullable)' if field.nullable else ''}",
            hint="partition by a required timestamp column with a time zone",
        )


def split_by_day(rows: pa.Table, column: str) -> list[tuple[date, pa.Table]]:
    """``rows`` grouped by the UTC day of ``column``, days in order, row order kept.

    A batch is ingested at one moment, so the usual call finds one day and copies
    nothing.
    """
    if rows.num_rows == 0:
        return []
    values = rows.column(column)
    bounds = pc.min_max(values)
    low, high = (
        pc.cast(bounds["min"], pa.date32()).as_py(),
        pc.cast(bounds["max"], pa.date32()).as_py(),
    )
    if low == high:
        return [(low, rows)]
    days = pc.cast(values, pa.date32())
    return [
        (day, rows.filter(pc.equal(days, pa.scalar(day, pa.date32()))))
        for day in sorted(pc.unique(days).to_pylist())
    ]
