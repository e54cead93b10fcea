"""Avro schema text: parse it, validate it, and give it one canonical form.

fastavro does the parsing, but it accepts some schemas that the Avro specification and
the Confluent registry refuse (a record without fields, invalid names, nested unions, a
union default that does not fit the first branch). Those would be registered here and
then refused by a real registry in the cluster profile, so they are checked here too.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import fastavro

from lakeforge.errors import SchemaError

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
NAMED_KINDS = frozenset({"record", "error", "enum", "fixed"})
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_HINT = "fix the schema; the Avro specification lists what each type needs"


@dataclass(frozen=True)
class AvroSchema:
    """A validated Avro schema."""

    #: JSON text with sorted keys and no spaces; equal schemas have equal text.
    canonical: str
    #: The schema as fastavro parsed it: names fully qualified, references as names.
    tree: Any
    #: Every named type (record, enum, fixed) by full name.
    names: Mapping[str, Any]


@functools.lru_cache(maxsize=512)
def parse(text: str) -> AvroSchema:
    """Parse and validate Avro schema text; SchemaError says what is wrong and where."""
    try:
        raw = json.loads(text)
    except (json.JSONDecodeError, TypeError) as exc:
        raise SchemaError(f"schema is not valid JSON: {exc}", _HINT) from None
    _check_shape(raw, "the top level")
    try:
        tree = fastavro.parse_schema(raw, _write_hint=False)
    except fastavro.schema.UnknownType as exc:
        raise SchemaError(
            f"invalid Avro schema: unknown type {exc.name!r}",
            "use a primitive type or a named type defined earlier in the schema",
        ) from None
    except Exception as exc:  # fastavro raises many kinds; all mean "invalid"
        raise SchemaError(f"invalid Avro schema: {exc}", _HINT) from None
    names: dict[str, Any] = {}
    _collect_names(tree, names)
    _check_union_defaults(tree, names, set())
    canonical = json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return AvroSchema(canonical=canonical, tree=tree, names=names)


def canonical_text(text: str) -> str:
    """Return the canonical form of schema text (validating it on the way)."""
    return parse(text).canonical


def resolve(node: Any, names: Mapping[str, Any]) -> Any:
    """Return ``node`` with a reference to a named type replaced by the type's definition."""
    if isinstance(node, str) and node not in PRIMITIVES:
        return names[node]
    return node


def kind(node: Any) -> str:
    """Return the Avro type of a resolved node: a primitive, a complex kind, or 'union'."""
    if isinstance(node, list):
        return "union"
    if isinstance(node, str):
        return node
    return str(node["type"])


def describe(node: Any, names: Mapping[str, Any]) -> str:
    """Name a type for humans, e.g. ``long (timestamp-micros)`` or ``enum Exchange``."""
    node = resolve(node, names)
    if isinstance(node, list):
        return "union [" + ", ".join(describe(branch, names) for branch in node) + "]"
    if isinstance(node, str):
        return node
    node_kind = kind(node)
    if node_kind in NAMED_KINDS:
        short = str(node["name"]).rsplit(".", 1)[-1]
        size = f"({node['size']})" if node_kind == "fixed" else ""
        return f"{node_kind} {short}{size}"
    if node_kind == "array":
        return f"array<{describe(node['items'], names)}>"
    if node_kind == "map":
        return f"map<{describe(node['values'], names)}>"
    logical = node.get("logicalType")
    return f"{node_kind} ({logical})" if logical else node_kind


def _check_shape(node: Any, where: str) -> None:
    """Refuse what fastavro lets through but the Avro specification does not."""
    if isinstance(node, str):
        return
    if isinstance(node, list):
        _check_union(node, where)
        return
    if not isinstance(node, dict) or "type" not in node:
        raise SchemaError(
            f"invalid Avro schema: the type at {where} must be a type name, a union "
            f"(JSON array) or an object with a 'type', not {json.dumps(node)[:80]}",
            _HINT,
        )
    node_kind = node["type"]
    if not isinstance(node_kind, str):
        _check_shape(node_kind, where)
        return
    if node_kind not in PRIMITIVES | NAMED_KINDS | {"array", "map"}:
        raise SchemaError(
            f"invalid Avro schema: unknown type {node_kind!r} at {where}",
            "use a primitive type, record, enum, fixed, array or map",
        )
    needs = {"record": "fields", "error": "fields", "enum": "symbols", "fixed": "size"}
    needs |= {"array": "items", "map": "values"}
    if node_kind in needs and needs[node_kind] not in node:
        raise SchemaError(
            f"invalid Avro schema: the {node_kind} at {where} has no '{needs[node_kind]}'"
        )
    if node_kind in NAMED_KINDS:
        name = node.get("name")
        if not isinstance(name, str) or not all(_NAME.match(p) for p in name.split(".")):
            raise SchemaError(
                f"invalid Avro schema: the {node_kind} at {where} has invalid name {name!r}",
                "names start with a letter or _ and hold only letters, digits and _",
            )
    if node_kind == "fixed" and (type(node["size"]) is not int or node["size"] < 0):
        raise SchemaError(
            f"invalid Avro schema: fixed {node['name']!r} size must be a whole number"
        )
    if node_kind in ("record", "error"):
        _check_fields(node, where)
    elif node_kind == "array":
        _check_shape(node["items"], f"the items of {where}")
    elif node_kind == "map":
        _check_shape(node["values"], f"the values of {where}")


def _check_fields(record: dict[str, Any], where: str) -> None:
    fields = record["fields"]
    if not isinstance(fields, list):
        raise SchemaError(
            f"invalid Avro schema: 'fields' of record {record['name']!r} must be a list"
        )
    seen: set[str] = set()
    for field in fields:
        name = field.get("name") if isinstance(field, dict) else None
        if not isinstance(name, str) or not _NAME.match(name):
            raise SchemaError(
                f"invalid Avro schema: record {record['name']!r} has a field with invalid "
                f"name {name!r}",
                "field names start with a letter or _ and hold only letters, digits and _",
            )
        if name in seen:
            raise SchemaError(
                f"invalid Avro schema: record {record['name']!r} has two fields {name!r}"
            )
        seen.add(name)
        if "type" in field:  # fastavro names a missing type itself
            _check_shape(field["type"], f"field {name!r}")


def _check_union(branches: list[Any], where: str) -> None:
    seen: set[str] = set()
    for branch in branches:
        if isinstance(branch, list):
            raise SchemaError(
                f"invalid Avro schema: the union at {where} holds another union directly"
            )
        _check_shape(branch, where)
        # Unnamed types may appear once per union; named types once per name.
        key = branch if isinstance(branch, str) else branch.get("name") or branch["type"]
        if isinstance(key, str) and key in seen:
            raise SchemaError(f"invalid Avro schema: the union at {where} holds {key!r} twice")
        if isinstance(key, str):
            seen.add(key)


def _collect_names(node: Any, names: dict[str, Any]) -> None:
    if isinstance(node, list):
        for branch in node:
            _collect_names(branch, names)
    elif isinstance(node, dict):
        node_kind = node["type"]
        if node_kind in NAMED_KINDS:
            names[node["name"]] = node
        for field in node.get("fields", ()) if node_kind in ("record", "error") else ():
            _collect_names(field["type"], names)
        if node_kind == "array":
            _collect_names(node["items"], names)
        elif node_kind == "map":
            _collect_names(node["values"], names)


def _check_union_defaults(node: Any, names: Mapping[str, Any], done: set[str]) -> None:
    """Check that union defaults are values of the union's first branch (Avro spec)."""
    node = resolve(node, names)
    if not isinstance(node, dict) or kind(node) not in ("record", "error", "array", "map"):
        if isinstance(node, list):
            for branch in node:
                _check_union_defaults(branch, names, done)
        return
    if kind(node) == "array":
        _check_union_defaults(node["items"], names, done)
        return
    if kind(node) == "map":
        _check_union_defaults(node["values"], names, done)
        return
    if node["name"] in done:
        return
    done.add(node["name"])
    for field in node["fields"]:
        field_type = field["type"]
        if isinstance(field_type, list) and "default" in field:
            first = resolve(field_type[0], names)
            if not _fits(field["default"], first):
                raise SchemaError(
                    f"invalid Avro schema: default of field {field['name']!r} is "
                    f"{json.dumps(field['default'])}, not a value of the union's first "
                    f"branch {describe(first, names)}",
                    'put the default\'s type first in the union, e.g. ["null", ...] '
                    "with default null",
                )
        _check_union_defaults(field_type, names, done)


def _fits(value: Any, node: Any) -> bool:
    """Whether a JSON default is a value of (resolved, non-union) type ``node``."""
    expected: dict[str, type | tuple[type, ...]] = {
        "null": type(None), "boolean": bool, "int": int, "long": int,
        "float": (int, float), "double": (int, float), "bytes": str, "string": str,
        "enum": str, "fixed": str, "array": list, "map": dict, "record": dict, "error": dict,
    }  # fmt: skip
    node_kind = kind(node)
    if node_kind in ("int", "long", "float", "double") and isinstance(value, bool):
        return False
    if node_kind == "enum" and value not in node["symbols"]:
        return False
    return isinstance(value, expected[node_kind])
