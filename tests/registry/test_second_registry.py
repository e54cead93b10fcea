"""HttpRegistry against a registry that is not ours: Apicurio Registry's Confluent API.

The contract tests run HttpRegistry against lakeforge's own server, so both sides of the
REST API could share a misreading of it. Here the other side is an independent
implementation (see ``tests/apicurio_registry.py``). What is asserted is what the Confluent
API promises, not lakeforge's own choices: Apicurio numbers ids its own way, gives the
schema text back in its own layout, and gives no reasons with a compatibility check.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pyarrow as pa
import pytest

from lakeforge.codec import AvroSchema, Decoder, confluent_header, encode
from lakeforge.errors import NotFoundError, SchemaError
from lakeforge.registry import Compatibility, HttpRegistry, IncompatibleSchemaError
from lakeforge.registry.errors import ErrorCode, RegistryNotFoundError
from tests.apicurio_registry import ApicurioError, ApicurioRegistry
from tests.codec.samples import random_trades
from tests.registry.schema_edits import add_field, evolve, field_of


@pytest.fixture(scope="module")
def apicurio() -> Iterator[ApicurioRegistry]:
    """Apicurio Registry on a free 127.0.0.1 port for this module, stopped after."""
    server = ApicurioRegistry()
    try:
        server.start()
    except ApicurioError as error:
        # Fail, never skip: a second-registry suite that silently does not run proves nothing.
        pytest.fail(f"could not start the Apicurio test registry: {error}", pytrace=False)
    yield server
    server.stop()


@pytest.fixture
def registry(apicurio: ApicurioRegistry) -> Iterator[HttpRegistry]:
    client = HttpRegistry(apicurio.ccompat_url)
    yield client
    client.close()


def same_schema(text: str, other: str) -> bool:
    """Whether two schema texts are the same JSON, whatever their layout."""
    return bool(json.loads(text) == json.loads(other))


def test_register_is_idempotent_and_ids_are_shared(
    registry: HttpRegistry, subject: str, trade_schema: str
) -> None:
    first = registry.register(subject, trade_schema)
    assert (first.subject, first.version) == (subject, 1)
    assert same_schema(first.schema, trade_schema)
    again = registry.register(subject, trade_schema)
    assert (again.version, again.schema_id) == (1, first.schema_id)
    # One schema, one id: registered under another subject it keeps its id.
    elsewhere = registry.register(f"copy-{subject}", trade_schema)
    assert (elsewhere.version, elsewhere.schema_id) == (1, first.schema_id)
    assert same_schema(registry.schema_by_id(first.schema_id), trade_schema)
    assert {subject, f"copy-{subject}"} <= set(registry.subjects())
    found = registry.lookup(subject, trade_schema)
    assert found is not None and (found.version, found.schema_id) == (1, first.schema_id)


def test_compatible_changes_become_new_versions(
    registry: HttpRegistry, subject: str, trade_schema: str
) -> None:
    v1 = registry.register(subject, trade_schema)
    newer = evolve(trade_schema, add_field(name="venue", type=["null", "string"], default=None))
    assert registry.compatibility_problems(subject, newer) == []
    v2 = registry.register(subject, newer)
    assert v2.version == 2 and v2.schema_id != v1.schema_id
    latest = registry.latest(subject)
    assert (latest.version, latest.schema_id) == (2, v2.schema_id)
    assert same_schema(latest.schema, newer)
    listed = registry.versions(subject)
    assert [(v.version, v.schema_id) for v in listed] == [(1, v1.schema_id), (2, v2.schema_id)]
    assert same_schema(listed[0].schema, trade_schema)
    assert registry.lookup(subject, '"string"') is None


def test_incompatible_changes_are_refused_with_a_lakeforge_error(
    registry: HttpRegistry, subject: str, trade_schema: str
) -> None:
    registry.register(subject, trade_schema)
    assert registry.get_compatibility(subject) == Compatibility.BACKWARD
    price_as_text = evolve(trade_schema, lambda s: field_of(s, "price").update(type="string"))
    # Apicurio answers is_compatible false without reasons, even when asked for them.
    assert registry.compatibility_problems(subject, price_as_text) != []
    with pytest.raises(IncompatibleSchemaError) as caught:
        registry.register(subject, price_as_text)
    assert caught.value.problems, "the registry's reason is kept"
    assert f"refused the schema for subject '{subject}' as incompatible" in str(caught.value)
    assert caught.value.hint and "compatible" in caught.value.hint
    assert [v.version for v in registry.versions(subject)] == [1]


def test_the_subject_level_decides(registry: HttpRegistry, subject: str, trade_schema: str) -> None:
    registry.register(subject, trade_schema)
    price_as_text = evolve(trade_schema, lambda s: field_of(s, "price").update(type="string"))
    assert registry.set_compatibility("none", subject) == Compatibility.NONE
    assert registry.get_compatibility(subject) == Compatibility.NONE
    assert registry.register(subject, price_as_text).version == 2


def test_anything_may_start_a_subject(registry: HttpRegistry, subject: str) -> None:
    assert registry.compatibility_problems(subject, '"string"') == []


def test_invalid_schemas_are_schema_errors(registry: HttpRegistry, subject: str) -> None:
    with pytest.raises(SchemaError) as caught:
        registry.register(subject, '{"type": "record", "name": "R", "fields": '
                          '[{"name": "a", "type": "strnig"}]}')  # fmt: skip
    assert not isinstance(caught.value, IncompatibleSchemaError)
    assert registry.versions(subject) == []


def test_missing_things_are_not_found(registry: HttpRegistry, subject: str) -> None:
    with pytest.raises(RegistryNotFoundError) as missing_subject:
        registry.latest(subject)
    assert missing_subject.value.code == ErrorCode.SUBJECT_NOT_FOUND
    assert isinstance(missing_subject.value, NotFoundError)
    with pytest.raises(RegistryNotFoundError, match="99999") as missing_id:
        registry.schema_by_id(99999)
    assert missing_id.value.code == ErrorCode.SCHEMA_NOT_FOUND
    assert registry.versions(subject) == []
    assert registry.lookup(subject, '"string"') is None


def test_deleted_subjects_are_gone(registry: HttpRegistry, subject: str, trade_schema: str) -> None:
    kept = registry.register(subject, trade_schema)
    assert registry.delete_subject(subject) == [1]
    assert subject not in registry.subjects()
    assert registry.versions(subject) == []
    with pytest.raises(NotFoundError):
        registry.latest(subject)
    assert registry.delete_subject(subject, permanent=True) == [1]
    # An id stays readable: messages written with it must still decode.
    assert same_schema(registry.schema_by_id(kept.schema_id), trade_schema)


def test_messages_framed_with_its_ids_decode_through_it(
    registry: HttpRegistry, subject: str, trade_schema: str
) -> None:
    """The data path: write with the id it gave v1, read as v2 with schemas fetched from it."""
    writer = AvroSchema.parse(trade_schema)
    writer_id = registry.register(subject, trade_schema).schema_id
    newer = evolve(trade_schema, add_field(name="venue", type=["null", "string"], default=None))
    registry.register(subject, newer)
    rows = random_trades(20, 7)
    messages = encode(
        pa.Table.from_pylist(rows, schema=writer.arrow_schema),
        writer,
        prefix=confluent_header(writer_id),
    )
    decoded = Decoder(AvroSchema.parse(newer), registry.schema_by_id).decode(messages)
    assert len(decoded.errors) == 0
    assert decoded.table.column("trade_id").to_pylist() == [r["trade_id"] for r in rows]
    assert decoded.table.column("venue").to_pylist() == [None] * len(rows)
