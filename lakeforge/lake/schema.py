"""Table schemas: the Arrow form both formats round-trip, field ids, and checking rows.

A lake table's schema is held in one *canonical* Arrow form: small types (``string``,
``binary``, ``list``), list items named ``element`` (the name Iceberg, Delta and
compliant Parquet use), timestamps in microseconds and UTC. A schema in that form reads
back unchanged from both formats, which is what lets ``read("iceberg")`` and
``read("delta")`` be compared column for column.
"""

from __future__ import annotations

import pyarrow as pa
from pyiceberg.io.pyarrow import schema_to_pyarrow
from pyiceberg.schema import Schema as IcebergSchema
from pyiceberg.types import IcebergType, ListType, NestedField, StructType

from lakeforge.errors import SchemaError
from lakeforge.lake.base import OFFSET_COLUMN, PARTITION_COLUMN

SUPPORTED_TYPES = (
    "bool, int32, int64, float32, float64, string, binary, date32, timestamp[us, tz=UTC], "
    "timestamp[us] (s and ms are widened to us), and lists and structs of these"
)
_FIELD_ID_KEY = b"PARQUET:field_id"
_UTC_NAMES = {"UTC", "utc", "Etc/UTC", "+00:00", "Z"}
_SYSTEM_COLUMNS = {PARTITION_COLUMN: pa.int32(), OFFSET_COLUMN: pa.int64()}


def canonical_schema(schema: pa.Schema) -> pa.Schema:
    """Check that ``schema`` can be a lake table's and return its canonical form.

    Raises :class:`~lakeforge.errors.SchemaError` naming the first column at fault: an
    unsupported type, a duplicate name, or a missing ``_partition``/``_offset``.
    """
    names = [f.name for f in schema]
    if duplicates := sorted({n for n in names if names.count(n) > 1}):
        raise SchemaError(f"the schema has duplicate columns: {', '.join(duplicates)}")
    for name, arrow_type in _SYSTEM_COLUMNS.items():
        if name not in names:
            raise SchemaError(
                f"the schema has no {name} column",
                hint=f"every lake table carries {PARTITION_COLUMN} (int32) and "
                f"{OFFSET_COLUMN} (int64): the source position of each row",
            )
        if schema.field(name).type != arrow_type:
            raise SchemaError(f"column {name} is {schema.field(name).type}, not {arrow_type}")
    return pa.schema([_canonical_field(f, f.name) for f in schema])


def _canonical_field(f: pa.Field, path: str) -> pa.Field:
    return pa.field(f.name, _canonical_type(f.type, path), nullable=f.nullable)


def _canonical_type(t: pa.DataType, path: str) -> pa.DataType:
    simple = (pa.bool_(), pa.int32(), pa.int64(), pa.float32(), pa.float64(), pa.date32())
    if t in simple:
        return t
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return pa.binary()
    if pa.types.is_timestamp(t) and t.unit in ("s", "ms", "us"):
        if t.tz is None:  # Iceberg timestamp; Delta timestamp_ntz (delta-rs enables it)
            return pa.timestamp("us")
        if t.tz in _UTC_NAMES:
            return pa.timestamp("us", tz="UTC")
    if pa.types.is_timestamp(t):
        raise SchemaError(
            f"column {path} is {t}, which lake tables do not store",
            hint="use timestamp('us', tz='UTC'): Iceberg v2 has no nanoseconds, and stores "
            "instants in UTC only",
        )
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        item = t.value_field
        return pa.list_(pa.field("element", _canonical_type(item.type, path), item.nullable))
    if pa.types.is_struct(t):
        return pa.struct([_canonical_field(c, f"{path}.{c.name}") for c in t])
    raise SchemaError(f"column {path} is {t}, which lake tables do not store", hint=SUPPORTED_TYPES)


def arrow_schema(iceberg_schema: IcebergSchema) -> pa.Schema:
    """The canonical Arrow schema of a table, from its Iceberg schema."""
    return canonical_schema(schema_to_pyarrow(iceberg_schema, include_field_ids=False))


def file_schema(schema: pa.Schema, iceberg_schema: IcebergSchema) -> pa.Schema:
    """The schema data files are written with: ``schema`` plus each field's Iceberg id.

    The notes' trap: Iceberg reads a file's columns by Parquet field id, and a file with
    wrong ids is accepted silently and reads columns swapped. Ids are taken from the
    created table (pyiceberg assigns fresh ids at creation), never guessed.
    """
    return pa.schema([_with_id(f, iceberg_schema.find_field(f.name)) for f in schema])


def _with_id(f: pa.Field, iceberg_field: NestedField) -> pa.Field:
    t, it = f.type, iceberg_field.field_type
    if pa.types.is_list(t) and isinstance(it, ListType):
        t = pa.list_(_with_id(t.value_field, it.element_field))
    elif pa.types.is_struct(t) and isinstance(it, StructType):
        t = pa.struct([_with_id(c, it.field_by_name(c.name) or _missing(c.name, it)) for c in t])
    metadata = {_FIELD_ID_KEY: str(iceberg_field.field_id).encode()}
    return pa.field(f.name, t, nullable=f.nullable, metadata=metadata)


def _missing(name: str, struct: IcebergType) -> NestedField:
    raise SchemaError(f"field {name} is not in the Iceberg struct {struct}")


def schema_differences(stored: pa.Schema, requested: pa.Schema) -> list[str]:
    """How ``requested`` differs from a table's ``stored`` schema, one line per column."""
    problems = [f"column {n} is not in the table" for n in requested.names if n not in stored.names]
    problems += [f"column {n} is missing" for n in stored.names if n not in requested.names]
    for f in requested:
        if f.name in stored.names and not f.equals(stored.field(f.name)):
            had = _describe(stored.field(f.name))
            problems.append(f"column {f.name}: the table has {had}, asked for {_describe(f)}")
    if not problems and stored.names != requested.names:
        problems.append(f"column order differs: the table has {', '.join(stored.names)}")
    return problems


def _describe(f: pa.Field) -> str:
    return f"{f.type}" if f.nullable else f"{f.type} not null"


def conform_rows(rows: pa.Table | pa.RecordBatch, schema: pa.Schema, target: pa.Schema) -> pa.Table:
    """Check ``rows`` against the canonical ``schema`` and cast them to ``target``.

    Columns may come in any order and in equivalent types (large strings, ms
    timestamps, an all-null column); anything else raises
    :class:`~lakeforge.errors.SchemaError` naming the column, before anything is written.
    """
    table = pa.Table.from_batches([rows]) if isinstance(rows, pa.RecordBatch) else rows
    names = table.column_names
    for name in _SYSTEM_COLUMNS:
        if name not in names:
            raise SchemaError(
                f"the rows have no {name} column",
                hint=f"every row must carry {PARTITION_COLUMN} (int32) and {OFFSET_COLUMN} "
                "(int64), the source position that makes commits exactly once",
            )
    if extra := [n for n in names if n not in schema.names]:
        raise SchemaError(f"the rows have columns the table has not: {', '.join(extra)}")
    if missing := [n for n in schema.names if n not in names]:
        raise SchemaError(f"the rows lack the table's columns: {', '.join(missing)}")
    if len(set(names)) != len(names):
        raise SchemaError("the rows have duplicate column names")
    columns = [_conform_column(table.column(f.name), f, target.field(f.name).type) for f in schema]
    return pa.Table.from_arrays(columns, schema=target)


def _conform_column(column: pa.ChunkedArray, f: pa.Field, to: pa.DataType) -> pa.ChunkedArray:
    if pa.types.is_null(column.type):
        column = pa.chunked_array([pa.nulls(len(column), f.type)], f.type)
    else:
        try:
            same = _shape(_canonical_type(column.type, f.name)) == _shape(f.type)
        except SchemaError:
            same = False
        if not same:
            raise SchemaError(
                f"column {f.name} is {column.type} in the rows, {f.type} in the table"
            )
    required = not f.nullable or f.name in _SYSTEM_COLUMNS
    if required and column.null_count:
        raise SchemaError(f"column {f.name} is required but {column.null_count} rows have nulls")
    return column.cast(to)


def _shape(t: pa.DataType) -> str:
    """A type's structure, ignoring nested field names and nullability (cast settles those)."""
    if pa.types.is_list(t):
        return f"list<{_shape(t.value_type)}>"
    if pa.types.is_struct(t):
        return "struct<" + ",".join(f"{c.name}:{_shape(c.type)}" for c in t) + ">"
    return str(t)
