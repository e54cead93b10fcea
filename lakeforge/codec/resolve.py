"""Schema evolution: reading columns decoded with a writer's schema as the reader's.

The rules are Avro's schema resolution: fields are matched by name (or a reader alias);
a reader field the writer lacks takes its default, or null when it is nullable; a
writer field the reader lacks is dropped; int, long and float widen to long, float and
double; string and bytes convert both ways; an enum symbol the reader lacks takes the
reader enum's default. A pair of schemas that can never be resolved is refused once
per writer schema id; a value that cannot be resolved (a null for a non-nullable
field, an unknown enum symbol) fails only its own record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakeforge.codec.defaults import default_column
from lakeforge.codec.types import (
    MILLIS_TIMESTAMPS,
    Array,
    AvroType,
    Enum,
    Field,
    Fixed,
    Nullable,
    Primitive,
    Record,
    arrow_field,
    arrow_type,
    describe,
)
from lakeforge.codec.varint import I64

#: Rows that failed resolution and why: (row indexes, kind, one reason per row).
Problem = tuple[I64, str, list[str]]
Converter = Callable[[pa.Array], tuple[pa.Array, list[Problem]]]

_PROMOTIONS = {
    "int": {"long", "float", "double"},
    "long": {"float", "double"},
    "float": {"double"},
    "string": {"bytes"},
    "bytes": {"string"},
}


class IncompatibleSchemaError(Exception):
    """The writer's schema can never be read as the reader's; ``args[0]`` says why."""


@dataclass(frozen=True)
class ColumnPlan:
    """How one column of the reader's table is made."""

    #: The reader's Arrow field.
    field: pa.Field
    #: The writer's column it is made from; None when the writer has no such field.
    writer_name: str | None
    #: Converts the writer's column (None: it is used as it is), or builds the column
    #: from a column of nulls of the right length when ``writer_name`` is None.
    convert: Converter | None


@dataclass(frozen=True)
class Resolution:
    """How to turn a table decoded with the writer's schema into the reader's columns."""

    columns: tuple[ColumnPlan, ...]

    def apply(self, table: pa.Table) -> tuple[pa.Table, list[Problem]]:
        """The reader's table, and the rows whose values could not be resolved."""
        problems: list[Problem] = []
        arrays = []
        for spec in self.columns:
            if spec.writer_name is None:
                assert spec.convert is not None
                filled, _ = spec.convert(pa.nulls(table.num_rows))
                column = pa.chunked_array([filled])
            else:
                source = table.column(spec.writer_name)
                column, found = _convert_chunked(spec.convert, source, spec.field.type)
                problems.extend(found)
            arrays.append(column)
        schema = pa.schema([spec.field for spec in self.columns])
        return pa.Table.from_arrays(arrays, schema=schema), problems


def plan(writer: Record, reader: Record) -> Resolution | None:
    """How to read ``writer`` records as ``reader`` ones; None when they are the same.

    Raises :class:`IncompatibleSchemaError` when no record could ever be resolved.
    """
    if writer == reader:
        return None
    columns = [
        ColumnPlan(arrow_field(field.name, field.type), writer_name, convert)
        for field, writer_name, convert in _match_fields(writer, reader, "")
    ]
    return Resolution(tuple(columns))


def unread_fields(writer: Record, reader: Record) -> tuple[str, ...]:
    """The writer's fields that reading as ``reader`` drops, as paths ("venue", "legs[].venue").

    A field is read when a reader field of its name (or with it as an alias) exists;
    inside a field that is read, nested records (also in arrays and nullable unions) are
    compared the same way. Meant for a pair :func:`plan` accepts.
    """
    return tuple(_unread(writer, reader, ""))


def _unread(writer: Record, reader: Record, prefix: str) -> list[str]:
    by_name = {f.name: f for f in writer.fields}
    read: dict[str, Field] = {}
    for field in reader.fields:
        source = _source(field, by_name)
        if source is not None:
            read[source.name] = field
    found = []
    for field in writer.fields:
        path = f"{prefix}{field.name}"
        if field.name in read:
            found += _unread_inside(field.type, read[field.name].type, path)
        else:
            found.append(path)
    return found


def _unread_inside(writer: AvroType, reader: AvroType, path: str) -> list[str]:
    """The unread fields of the records a field holds (in arrays and unions too)."""
    if isinstance(writer, Nullable):
        writer = writer.inner
    if isinstance(reader, Nullable):
        reader = reader.inner
    if isinstance(writer, Array) and isinstance(reader, Array):
        return _unread_inside(writer.items, reader.items, f"{path}[]")
    if isinstance(writer, Record) and isinstance(reader, Record):
        return _unread(writer, reader, f"{path}.")
    return []


def _source(field: Field, writer_fields: dict[str, Field]) -> Field | None:
    """The writer's field a reader field reads: by its name, else by an alias."""
    return next(
        (writer_fields[n] for n in (field.name, *field.aliases) if n in writer_fields), None
    )


def _match_fields(
    writer: Record, reader: Record, prefix: str
) -> list[tuple[Field, str | None, Converter | None]]:
    by_name = {f.name: f for f in writer.fields}
    matched: list[tuple[Field, str | None, Converter | None]] = []
    for field in reader.fields:
        path = f"{prefix}{field.name}"
        source = _source(field, by_name)
        if source is not None:
            matched.append((field, source.name, _converter(source.type, field.type, path)))
        elif field.default_json is not None:
            matched.append((field, None, _default_filler(field.type, field.default_json)))
        elif isinstance(field.type, Nullable):
            matched.append((field, None, _null_filler(field.type)))
        else:
            raise IncompatibleSchemaError(
                f"field '{path}' is missing in the writer's schema and has no default"
            )
    return matched


def _default_filler(node: AvroType, default_json: str) -> Converter:
    return lambda nulls: (default_column(node, default_json, len(nulls)), [])


def _null_filler(node: AvroType) -> Converter:
    return lambda nulls: (pa.nulls(len(nulls), type=arrow_type(node)), [])


def _converter(writer: AvroType, reader: AvroType, path: str) -> Converter | None:
    """A function converting writer values to reader values; None when they are equal."""
    if writer == reader:
        return None
    if isinstance(reader, Nullable):
        return _converter(
            writer.inner if isinstance(writer, Nullable) else writer, reader.inner, path
        )
    if isinstance(writer, Nullable):
        return _refuse_nulls(_converter(writer.inner, reader, path), reader, path)
    if isinstance(writer, Primitive) and isinstance(reader, Primitive):
        return _primitive(writer, reader, path)
    if isinstance(writer, Enum) and isinstance(reader, Enum):
        return _enum(writer, reader, path)
    if isinstance(writer, Fixed) and isinstance(reader, Fixed) and writer.size == reader.size:
        return None
    if isinstance(writer, Array) and isinstance(reader, Array):
        return _array(_converter(writer.items, reader.items, f"{path}[]"), reader)
    if isinstance(writer, Record) and isinstance(reader, Record):
        return _record(writer, reader, path)
    raise IncompatibleSchemaError(
        f"field '{path}' is {describe(writer)} in the writer's schema, "
        f"{describe(reader)} in the reader's"
    )


def _refuse_nulls(inner: Converter | None, reader: AvroType, path: str) -> Converter:
    def convert(array: pa.Array) -> tuple[pa.Array, list[Problem]]:
        column, problems = inner(array) if inner else (array, [])
        nulls = np.flatnonzero(array.is_null().to_numpy(zero_copy_only=False))
        if nulls.size:
            text = f"field '{path}' is null, which the reader's {describe(reader)} cannot hold"
            problems = [*problems, (nulls, "incompatible_schema", [text] * len(nulls))]
        return column, problems

    return convert


def _primitive(writer: Primitive, reader: Primitive, path: str) -> Converter | None:
    target = arrow_type(reader)
    if writer.kind == reader.kind:
        if writer.logical and reader.logical and arrow_type(writer) == target:
            # timestamp-millis read as timestamp-micros: the same instants, already in µs
            return None
        # otherwise the reader reads the writer's raw number in its own logical type
        return lambda array: _from_raw(reader, _to_raw(writer, array), path)
    if reader.kind not in _PROMOTIONS.get(writer.kind, set()):
        raise IncompatibleSchemaError(
            f"field '{path}' is {describe(writer)} in the writer's schema, "
            f"{describe(reader)} in the reader's"
        )
    if reader.kind == "string":
        return lambda array: _bytes_to_string(array, path)
    # Avro allows the precision a long loses as a float
    return lambda array: _from_raw(
        reader, _to_raw(writer, array).cast(_base(reader), safe=False), path
    )


def _base(node: Primitive) -> pa.DataType:
    return arrow_type(Primitive(node.kind))


def _to_raw(node: Primitive, array: pa.Array) -> pa.Array:
    """Values as Avro wrote them: a timestamp-millis column back to its millis."""
    raw = array.view(_base(node)) if array.type != _base(node) else array
    if node.logical in MILLIS_TIMESTAMPS:
        return pc.divide(raw, 1000)
    return raw


def _from_raw(node: Primitive, raw: pa.Array, path: str) -> tuple[pa.Array, list[Problem]]:
    """Raw Avro values read as the reader's type; millis out of range fail their row."""
    problems: list[Problem] = []
    if node.logical in MILLIS_TIMESTAMPS:
        limit = (2**63 - 1) // 1000
        out_of_range = pc.or_(pc.greater(raw, limit), pc.less(raw, -limit)).fill_null(False)
        rows = np.flatnonzero(out_of_range.to_numpy(zero_copy_only=False))
        if rows.size:
            texts = [
                f"field '{path}' has {raw[int(i)].as_py()} ms, out of the timestamp range"
                for i in rows
            ]
            problems.append((rows, "bad_varint", texts))
            raw = pc.if_else(out_of_range, 0, raw)
        raw = pc.multiply(raw, 1000)
    target = arrow_type(node)
    return (raw if raw.type == target else raw.view(target)), problems


def _bytes_to_string(array: pa.Array, path: str) -> tuple[pa.Array, list[Problem]]:
    try:
        return array.cast(pa.string()), []
    except pa.ArrowInvalid:
        pass
    bad = np.array([not _is_utf8(value) for value in array.to_pylist()], dtype=np.bool_)
    rows = np.flatnonzero(bad)
    text = f"field '{path}' has bytes that are not valid UTF-8, which the reader reads as a string"
    fixed = pc.if_else(pa.array(bad), pa.scalar(b"", pa.binary()), array)
    return fixed.cast(pa.string()), [(rows, "bad_utf8", [text] * len(rows))]


def _is_utf8(value: bytes | None) -> bool:
    try:
        if value is not None:
            value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _enum(writer: Enum, reader: Enum, path: str) -> Converter | None:
    unknown = [symbol for symbol in writer.symbols if symbol not in reader.symbols]
    if not unknown:
        return None
    lacking = pa.array(unknown, type=pa.string())

    def convert(array: pa.Array) -> tuple[pa.Array, list[Problem]]:
        is_unknown = pc.is_in(array, value_set=lacking).to_numpy(zero_copy_only=False)
        if not is_unknown.any():
            return array, []
        if reader.default is not None:
            return pc.if_else(pa.array(is_unknown), reader.default, array), []
        rows = np.flatnonzero(is_unknown)
        texts = [
            f"field '{path}' has symbol '{array[i].as_py()}', which the reader's enum "
            f"{reader.name} lacks and has no default for"
            for i in rows
        ]
        return array, [(rows, "incompatible_schema", texts)]

    return convert


def _array(items: Converter | None, reader: Array) -> Converter | None:
    if items is None:
        return None

    def convert(array: pa.Array) -> tuple[pa.Array, list[Problem]]:
        offsets = array.offsets.to_numpy() - array.offsets[0].as_py()
        values, problems = items(array.flatten())
        owners = [
            (np.searchsorted(offsets, rows, side="right") - 1, kind, texts)
            for rows, kind, texts in problems
        ]
        rebuilt = pa.ListArray.from_arrays(
            pa.array(offsets.astype(np.int32)), values, type=arrow_type(reader)
        )
        return rebuilt, owners

    return convert


def _record(writer: Record, reader: Record, path: str) -> Converter:
    matched = _match_fields(writer, reader, f"{path}.")
    fields = [arrow_field(f.name, f.type) for f in reader.fields]
    names = [f.name for f in writer.fields]

    def convert(array: pa.Array) -> tuple[pa.Array, list[Problem]]:
        problems: list[Problem] = []
        children = []
        for _, writer_name, child_convert in matched:
            if writer_name is None:
                assert child_convert is not None
                child, _ = child_convert(pa.nulls(len(array)))
            else:
                child = array.field(names.index(writer_name))
                if child_convert is not None:
                    child, found = child_convert(child)
                    problems.extend(found)
            children.append(child)
        mask = array.is_null() if array.null_count else None
        return pa.StructArray.from_arrays(children, fields=fields, mask=mask), problems

    return convert


def _convert_chunked(
    convert: Converter | None, column: pa.ChunkedArray, target: pa.DataType
) -> tuple[pa.ChunkedArray, list[Problem]]:
    if convert is None:
        return column, []
    problems: list[Problem] = []
    chunks = []
    base = 0
    for chunk in column.chunks:
        converted, found = convert(chunk)
        problems.extend((rows + base, kind, texts) for rows, kind, texts in found)
        chunks.append(converted)
        base += len(chunk)
    return pa.chunked_array(chunks, type=target), problems
