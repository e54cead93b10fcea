"""Avro compatibility by the specification's resolution rules, and schema validation."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lakeforge.errors import ConfigError, SchemaError
from lakeforge.registry import Compatibility, canonical_text, compatibility_problems
from lakeforge.registry.compat import parse_level
from lakeforge.registry.schemas import parse
from tests.registry.schema_edits import add_field, evolve, field_of, record


def problems(old: str, new: str, level: str = "BACKWARD") -> list[str]:
    return compatibility_problems(parse(new), {1: parse(old)}, Compatibility(level))


def set_type(name: str, new_type: Any) -> Any:
    return lambda schema: field_of(schema, name).update(type=new_type)


def test_adding_an_optional_field_with_a_default_is_backward_compatible(trade_schema: str) -> None:
    new = evolve(trade_schema, add_field(name="venue", type=["null", "string"], default=None))
    assert problems(trade_schema, new) == []
    assert problems(trade_schema, new, "FULL") == []


def test_a_type_change_names_the_field_and_why(trade_schema: str) -> None:
    new = evolve(trade_schema, set_type("price", "string"))
    assert problems(trade_schema, new) == [
        "field 'price': type changed from double to string; "
        "a reader expecting string cannot read double (BACKWARD)"
    ]


def test_a_new_field_without_default_is_refused(trade_schema: str) -> None:
    new = evolve(trade_schema, add_field(name="venue", type="string"))
    (message,) = problems(trade_schema, new)
    assert message.startswith("field 'venue': added without a default")
    assert message.endswith("(BACKWARD)")


def test_removing_an_enum_symbol_is_refused_unless_the_enum_has_a_default(
    trade_schema: str,
) -> None:
    def drop_iex(schema: dict[str, Any]) -> None:
        field_of(schema, "exchange")["type"]["symbols"].remove("IEX")

    (message,) = problems(trade_schema, evolve(trade_schema, drop_iex))
    assert "field 'exchange'" in message and "IEX" in message
    # Readers of old data need the symbol; writers of new data never send it.
    assert problems(trade_schema, evolve(trade_schema, drop_iex), "FORWARD") == []

    def drop_with_default(schema: dict[str, Any]) -> None:
        drop_iex(schema)
        field_of(schema, "exchange")["type"]["default"] = "NYSE"

    assert problems(trade_schema, evolve(trade_schema, drop_with_default)) == []


def test_a_removed_field_is_backward_but_not_forward_compatible(trade_schema: str) -> None:
    new = evolve(trade_schema, lambda s: s["fields"].remove(field_of(s, "tape")))
    assert problems(trade_schema, new) == []
    (message,) = problems(trade_schema, new, "FORWARD")
    assert message.startswith("field 'tape': removed") and message.endswith("(FORWARD)")
    # A removed field that had a default in the old schema is fine both ways.
    without_conditions = evolve(
        trade_schema, lambda s: s["fields"].remove(field_of(s, "conditions"))
    )
    assert problems(trade_schema, without_conditions, "FULL") == []


@pytest.mark.parametrize(
    ("writer", "reader"),
    [("int", "long"), ("int", "float"), ("int", "double"), ("long", "float"),
     ("long", "double"), ("float", "double"), ("string", "bytes"), ("bytes", "string")],
)  # fmt: skip
def test_promotions_the_spec_allows(writer: str, reader: str) -> None:
    old, new = (
        record("R", {"name": "x", "type": writer}),
        record("R", {"name": "x", "type": reader}),
    )
    assert problems(old, new) == []


@pytest.mark.parametrize(
    ("writer", "reader"),
    [("long", "int"), ("double", "float"), ("string", "int"), ("int", "boolean")],
)
def test_narrowing_or_unrelated_types_are_refused(writer: str, reader: str) -> None:
    old, new = (
        record("R", {"name": "x", "type": writer}),
        record("R", {"name": "x", "type": reader}),
    )
    assert problems(old, new) == [
        f"field 'x': type changed from {writer} to {reader}; "
        f"a reader expecting {reader} cannot read {writer} (BACKWARD)"
    ]


def test_unions_making_a_field_nullable_and_back() -> None:
    plain = record("R", {"name": "note", "type": "string"})
    nullable = record("R", {"name": "note", "type": ["null", "string"], "default": None})
    assert problems(plain, nullable) == []
    (message,) = problems(plain, nullable, "FORWARD")
    assert "field 'note'" in message and "cannot read null" in message
    (message,) = problems(nullable, plain)
    assert message.startswith("field 'note': type changed from union [null, string] to string")
    # A union branch is chosen by promotion too.
    as_int = record("R", {"name": "n", "type": "int"})
    assert problems(as_int, record("R", {"name": "n", "type": ["null", "long"]})) == []


def test_fields_and_records_match_by_alias() -> None:
    old = record("Trade", {"name": "symbol", "type": "string"}, namespace="a")
    renamed = record("Deal", {"name": "ticker", "type": "string", "aliases": ["symbol"]},
                     namespace="a", aliases=["Trade"])  # fmt: skip
    assert problems(old, renamed, "BACKWARD") == []
    unaliased = record("Deal", {"name": "ticker", "type": "string"})
    found = problems(old, unaliased)
    assert any("record Trade to record Deal" in p and "aliases" in p for p in found)


def test_nested_paths_name_the_inner_field() -> None:
    def with_city(city_type: str) -> str:
        city = {"name": "city", "type": city_type}
        address = {"type": "record", "name": "Address", "fields": [city]}
        return record("Customer", {"name": "address", "type": address},
                      {"name": "tags", "type": {"type": "map", "values": city_type}},
                      {"name": "codes", "type": {"type": "array", "items": city_type}})  # fmt: skip

    found = problems(with_city("string"), with_city("int"))
    assert [p.split(":")[0] for p in found] == [
        "field 'address.city'", "field 'tags{}'", "field 'codes[]'",
    ]  # fmt: skip


def test_fixed_size_and_named_references() -> None:
    def schema(size: int, symbols: list[str]) -> str:
        return record(
            "R",
            {"name": "hash", "type": {"type": "fixed", "name": "Hash", "size": size}},
            {"name": "side", "type": {"type": "enum", "name": "Side", "symbols": symbols}},
            {"name": "other_side", "type": "Side"},  # a reference to the named type above
        )

    found = problems(schema(16, ["BUY", "SELL"]), schema(32, ["BUY"]))
    assert found[0] == "field 'hash': fixed size changed from 16 to 32 bytes (BACKWARD)"
    assert [p.split(":")[0] for p in found[1:]] == ["field 'side'", "field 'other_side'"]


def test_recursive_types_terminate() -> None:
    def node(value_type: str) -> str:
        return record("Node", {"name": "value", "type": value_type},
                      {"name": "next", "type": ["null", "Node"], "default": None})  # fmt: skip

    assert problems(node("int"), node("long")) == []
    assert problems(node("long"), node("int")) == [
        "field 'value': type changed from long to int; a reader expecting int cannot read long "
        "(BACKWARD)"
    ]


def test_logical_types_must_not_change_meaning(trade_schema: str) -> None:
    millis_type = {"type": "long", "logicalType": "timestamp-millis"}
    millis = evolve(trade_schema, set_type("event_time", millis_type))
    (message,) = problems(trade_schema, millis)
    assert message.startswith(
        "field 'event_time': logical type changed from timestamp-micros to timestamp-millis"
    )

    def decimal(precision: int, scale: int) -> str:
        logical = {
            "type": "bytes",
            "logicalType": "decimal",
            "precision": precision,
            "scale": scale,
        }
        return record("R", {"name": "amount", "type": logical})

    assert problems(decimal(9, 2), decimal(12, 2)) == []
    assert "scale changed from 2 to 3" in problems(decimal(9, 2), decimal(9, 3))[0]
    assert "precision 12 does not fit" in problems(decimal(12, 2), decimal(9, 2))[0]


def test_transitive_levels_check_every_version() -> None:
    v1 = record("R", {"name": "a", "type": "int"})
    v2 = record("R", {"name": "a", "type": "int"}, {"name": "b", "type": "int", "default": 0})
    v3 = record("R", {"name": "a", "type": "int"}, {"name": "b", "type": "int"})
    existing = {1: parse(v1), 2: parse(v2)}
    assert compatibility_problems(parse(v3), existing, Compatibility.BACKWARD) == []
    (message,) = compatibility_problems(parse(v3), existing, Compatibility.BACKWARD_TRANSITIVE)
    assert message.startswith("field 'b': added without a default")
    assert message.endswith("(BACKWARD_TRANSITIVE, version 1)")


def test_none_accepts_anything() -> None:
    assert problems('"string"', '"int"', "NONE") == []


def test_levels_parse_in_any_case() -> None:
    assert parse_level("full_transitive") is Compatibility.FULL_TRANSITIVE
    with pytest.raises(ConfigError, match="BACKWARD_TRANSITIVE"):
        parse_level("SIDEWAYS")


@pytest.mark.parametrize(
    ("schema", "says"),
    [
        ("{not json", "not valid JSON"),
        ('{"type": "record", "name": "T"}', "no 'fields'"),
        ('{"type": "recrod", "name": "T", "fields": []}', "unknown type 'recrod'"),
        (record("T", {"name": "x", "type": "Nope"}), "unknown type 'Nope'"),
        (record("T", {"name": "x", "type": "int"}, {"name": "x", "type": "int"}), "two fields 'x'"),
        (record("T", {"name": "bad-name", "type": "int"}), "invalid name 'bad-name'"),
        (record("T", {"name": "x", "type": "int", "default": "one"}), "Default value"),
        (record("T", {"name": "x", "type": ["string", "null"], "default": None}), "first branch"),
        ('["null", ["int"]]', "holds another union"),
        ('["int", "int"]', "holds 'int' twice"),
        ('{"type": "fixed", "name": "F", "size": -1}', "whole number"),
        ('{"type": "enum", "name": "E", "symbols": ["A", "A"]}', "unique"),
        ("42", "must be a type name"),
    ],
)
def test_invalid_schemas_say_what_is_wrong(schema: str, says: str) -> None:
    with pytest.raises(SchemaError, match=r"invalid Avro schema|not valid JSON") as caught:
        parse(schema)
    assert says in str(caught.value)


def test_canonical_text_ignores_layout_but_keeps_docs(trade_schema: str) -> None:
    reordered = json.dumps(dict(reversed(json.loads(trade_schema).items())), indent=4)
    assert canonical_text(reordered) == canonical_text(trade_schema)
    assert '"doc":"One executed stock trade' in canonical_text(trade_schema)
    assert " " not in canonical_text('{"type" : "string"}')
