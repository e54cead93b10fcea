"""Avro schemas as lakeforge reads them: validated, typed, and mapped to Arrow.

fastavro checks that the JSON is a valid Avro schema; this module then builds the tree
of :mod:`lakeforge.codec.types` nodes and refuses, when the schema is read, every field
whose type cannot be decoded column by column. A pipeline with such a schema fails
``lakeforge check``, not its first batch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import fastavro
import pyarrow as pa

from lakeforge.codec.defaults import DefaultError, check_default
from lakeforge.codec.types import (
    LOGICAL_ARROW_TYPES,
    PRIMITIVE_ARROW_TYPES,
    Array,
    AvroType,
    Enum,
    Field,
    Fixed,
    Nullable,
    Primitive,
    Record,
    arrow_field,
    min_bytes,
)
from lakeforge.errors import SchemaError

#: Logical types whose values would be wrong if decoded as their base type.
_REFUSED_LOGICAL_TYPES = frozenset({"decimal", "duration"})

_CANNOT = "which lakeforge cannot decode column by column"


@dataclass(frozen=True)
class AvroSchema:
    """A parsed Avro record schema that lakeforge can encode and decode.

    Build one with :meth:`parse` or :meth:`load`; both raise
    :class:`~lakeforge.errors.SchemaError` for invalid JSON, an invalid Avro schema, a
    top-level type that is not a record, or a field of a type lakeforge cannot decode
    vectorised (maps, unions of several non-null types, recursive types, decimals).
    """

    #: The schema JSON, as given.
    text: str
    #: The record type tree that encoder and decoder walk.
    record: Record
    #: Where the schema came from, for messages: a path or "registry id 7".
    source: str = field(default="<text>", compare=False)

    @classmethod
    def parse(cls, text: str, source: str = "<text>") -> AvroSchema:
        """Parse Avro schema JSON text; ``source`` names it in error messages."""
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise SchemaError(
                f"schema {source} is not valid JSON: {error}",
                hint="fix the JSON syntax; an Avro schema is a JSON document",
            ) from None
        try:
            parsed = fastavro.parse_schema(document, _write_hint=False)
        except Exception as error:  # fastavro raises several unrelated exception types
            raise SchemaError(
                f"schema {source} is not a valid Avro schema: {error}",
                hint="see https://avro.apache.org/docs/current/specification/",
            ) from None
        if not isinstance(parsed, dict) or parsed.get("type") not in ("record", "error"):
            raise SchemaError(
                f"schema {source} is not a record schema",
                hint="the top level of a message schema must be an Avro record",
            )
        root = _TreeBuilder(source).build(parsed, path="")
        assert isinstance(root, Record)
        return cls(text=text, record=root, source=source)

    @classmethod
    def load(cls, path: str | Path) -> AvroSchema:
        """Read and parse the Avro schema file at ``path`` (an ``.avsc`` file)."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as error:
            raise SchemaError(
                f"cannot read schema file {path}: {error.strerror}",
                hint="check the path in the pipeline file",
            ) from None
        return cls.parse(text, source=str(path))

    @property
    def name(self) -> str:
        """The record's full name, namespace included."""
        return self.record.name

    @property
    def field_names(self) -> tuple[str, ...]:
        """The record's field names, in schema order."""
        return tuple(f.name for f in self.record.fields)

    @cached_property
    def arrow_schema(self) -> pa.Schema:
        """The Arrow schema of decoded tables: one column per record field."""
        return pa.schema([arrow_field(f.name, f.type) for f in self.record.fields])


class _TreeBuilder:
    """Turns fastavro's parsed schema (full names everywhere) into a type tree."""

    def __init__(self, source: str) -> None:
        self._source = source
        self._named: dict[str, AvroType] = {}
        # names of the records being built: a reference to one of them is recursion
        self._open: set[str] = set()

    def build(self, schema: Any, path: str) -> AvroType:
        if isinstance(schema, str):
            return self._reference(schema, path)
        if isinstance(schema, list):
            return self._union(schema, path)
        kind = schema["type"]
        if not isinstance(kind, str) or kind in PRIMITIVE_ARROW_TYPES or kind == "null":
            return self._primitive(schema, path)
        if kind in ("record", "error"):
            return self._record(schema, path)
        if kind == "enum":
            return self._define(schema["name"], _enum(schema))
        if kind == "fixed":
            self._refuse_logical(schema, path, f"fixed {schema['name']}")
            return self._define(schema["name"], Fixed(schema["name"], int(schema["size"])))
        if kind == "array":
            return self._array(schema, path)
        if kind == "map":
            raise self._unsupported(
                path,
                f"map<{_type_text(schema['values'])}>",
                hint="use an array of records with key and value fields",
            )
        raise self._unsupported(path, str(kind))

    def _reference(self, name: str, path: str) -> AvroType:
        if name in PRIMITIVE_ARROW_TYPES:
            return Primitive(name)
        if name == "null":
            raise self._unsupported(path, "null", hint="make the field nullable instead")
        if name in self._open:
            raise self._unsupported(
                path,
                f"{name} (recursive)",
                hint="flatten the recursion, e.g. into an array of records",
            )
        return self._named[name]

    def _primitive(self, schema: dict[str, Any], path: str) -> AvroType:
        kind = schema["type"]
        if not isinstance(kind, str):  # {"type": {"type": "int"}} wraps another type
            return self.build(kind, path)
        if kind == "null":
            return self._reference(kind, path)
        logical = schema.get("logicalType")
        self._refuse_logical(schema, path, kind)
        # the Avro spec says unknown logical types are read as their base type
        known = logical if (kind, logical) in LOGICAL_ARROW_TYPES else None
        return Primitive(kind, known)

    def _record(self, schema: dict[str, Any], path: str) -> Record:
        name = schema["name"]
        if not schema["fields"]:
            raise self._unsupported(path or name, f"record {name} with no fields")
        self._open.add(name)
        fields = []
        for spec in schema["fields"]:
            field_path = f"{path}.{spec['name']}" if path else spec["name"]
            node = self.build(spec["type"], field_path)
            default_json = json.dumps(spec["default"]) if "default" in spec else None
            if default_json is not None:
                self._check_default(node, default_json, field_path)
            aliases = tuple(spec.get("aliases", ()))
            fields.append(Field(spec["name"], node, default_json, aliases))
        self._open.discard(name)
        record = Record(name, tuple(fields))
        self._define(name, record)
        return record

    def _union(self, branches: list[Any], path: str) -> AvroType:
        non_null = [branch for branch in branches if branch != "null"]
        if len(branches) == 2 and len(non_null) == 1:
            inner = self.build(non_null[0], path)
            return Nullable(inner, null_first=branches[0] == "null")
        text = "[" + ", ".join(_type_text(branch) for branch in branches) + "]"
        raise self._unsupported(
            path,
            f"union {text}",
            hint='only ["null", T] and [T, "null"] unions are supported; '
            "split the other branches into separate nullable fields",
        )

    def _array(self, schema: dict[str, Any], path: str) -> Array:
        items = self.build(schema["items"], f"{path}[]")
        if min_bytes(items) == 0:
            # a count of zero-byte items is not bounded by the message size
            raise self._unsupported(path, f"array<{_type_text(schema['items'])}> of empty items")
        return Array(items)

    def _define(self, name: str, node: AvroType) -> AvroType:
        self._named[name] = node
        return node

    def _check_default(self, node: AvroType, default_json: str, path: str) -> None:
        try:
            check_default(node, default_json)
        except DefaultError as error:
            raise SchemaError(
                f"schema {self._source}: field '{path}': {error}",
                hint="give a default of the field's type (for a nullable field: null)",
            ) from None

    def _refuse_logical(self, schema: dict[str, Any], path: str, base: str) -> None:
        logical = schema.get("logicalType")
        if logical in _REFUSED_LOGICAL_TYPES:
            raise self._unsupported(path, f"{base} ({logical})")

    def _unsupported(self, path: str, type_text: str, hint: str | None = None) -> SchemaError:
        return SchemaError(
            f"schema {self._source}: field '{path}' has type {type_text}, {_CANNOT}",
            hint=hint,
        )


def _enum(schema: dict[str, Any]) -> Enum:
    return Enum(schema["name"], tuple(schema["symbols"]), schema.get("default"))


def _type_text(schema: Any) -> str:
    """A short name of a raw schema node, for messages."""
    if isinstance(schema, str):
        return schema
    if isinstance(schema, list):
        return "[" + ", ".join(_type_text(branch) for branch in schema) + "]"
    kind = schema.get("type")
    if kind == "array":
        return f"array<{_type_text(schema['items'])}>"
    if kind == "map":
        return f"map<{_type_text(schema['values'])}>"
    return str(schema.get("name", kind))
