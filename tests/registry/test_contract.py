"""What every SchemaRegistry must do, run against the embedded one and the HTTP client.

The HTTP client talks to a real RegistryServer, so both sides of the REST API are tested
together: errors must come back as the same lakeforge errors the embedded registry raises.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lakeforge.errors import NotFoundError, SchemaError
from lakeforge.registry import (
    EmbeddedRegistry,
    HttpRegistry,
    IncompatibleSchemaError,
    RegistryServer,
    SchemaRegistry,
    canonical_text,
)
from tests.registry.schema_edits import add_field, evolve, field_of


@pytest.fixture(params=["embedded", "http"])
def registry(request: pytest.FixtureRequest, server: RegistryServer) -> Iterator[SchemaRegistry]:
    if request.param == "embedded":
        chosen: SchemaRegistry = EmbeddedRegistry(":memory:")
    else:
        chosen = HttpRegistry(server.url)
    yield chosen
    chosen.close()


def test_register_is_idempotent_and_ids_are_shared(
    registry: SchemaRegistry, subject: str, trade_schema: str
) -> None:
    first = registry.register(subject, trade_schema)
    assert (first.subject, first.version) == (subject, 1)
    assert first.schema == canonical_text(trade_schema)
    assert registry.register(subject, trade_schema) == first
    elsewhere = registry.register(f"copy-{subject}", trade_schema)
    assert (elsewhere.version, elsewhere.schema_id) == (1, first.schema_id)
    assert registry.schema_by_id(first.schema_id) == first.schema
    assert {subject, f"copy-{subject}"} <= set(registry.subjects())


def test_compatible_changes_become_new_versions(
    registry: SchemaRegistry, subject: str, trade_schema: str
) -> None:
    v1 = registry.register(subject, trade_schema)
    newer = evolve(trade_schema, add_field(name="venue", type=["null", "string"], default=None))
    assert registry.compatibility_problems(subject, newer) == []
    v2 = registry.register(subject, newer)
    assert v2.version == 2 and v2.schema_id != v1.schema_id
    assert registry.latest(subject) == v2
    assert registry.versions(subject) == [v1, v2]


def test_incompatible_changes_are_refused_naming_the_field(
    registry: SchemaRegistry, subject: str, trade_schema: str
) -> None:
    registry.register(subject, trade_schema)
    price_as_text = evolve(trade_schema, lambda s: field_of(s, "price").update(type="string"))
    expected = (
        "field 'price': type changed from double to string; "
        "a reader expecting string cannot read double (BACKWARD)"
    )
    assert registry.compatibility_problems(subject, price_as_text) == [expected]
    with pytest.raises(IncompatibleSchemaError) as caught:
        registry.register(subject, price_as_text)
    assert caught.value.problems == [expected]
    assert subject in str(caught.value)
    assert [v.version for v in registry.versions(subject)] == [1]


def test_anything_may_start_a_subject(registry: SchemaRegistry, subject: str) -> None:
    assert registry.compatibility_problems(subject, '"string"') == []


def test_invalid_schemas_are_schema_errors(registry: SchemaRegistry, subject: str) -> None:
    with pytest.raises(SchemaError, match="unknown type 'strnig'"):
        registry.register(subject, '{"type": "record", "name": "R", "fields": '
                          '[{"name": "a", "type": "strnig"}]}')  # fmt: skip
    assert not isinstance(SchemaError("x"), IncompatibleSchemaError)


def test_missing_things_are_not_found(registry: SchemaRegistry, subject: str) -> None:
    with pytest.raises(NotFoundError, match="subject"):
        registry.latest(subject)
    with pytest.raises(NotFoundError, match="99999"):
        registry.schema_by_id(99999)
    assert registry.versions(subject) == []
