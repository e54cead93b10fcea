"""The embedded registry on SQLite: ids, versions, deletion, config, files, processes."""

from __future__ import annotations

import multiprocessing
import sqlite3
import time
from pathlib import Path

import pytest

from lakeforge.errors import ConfigError, TransientError
from lakeforge.registry import (
    Compatibility,
    EmbeddedRegistry,
    ErrorCode,
    IncompatibleSchemaError,
    RegistryNotFoundError,
)
from tests.registry.schema_edits import add_field, evolve, record

OPTIONAL_VENUE = add_field(name="venue", type=["null", "string"], default=None)


def test_ids_are_global_and_follow_the_canonical_schema(trade_schema: str) -> None:
    registry = EmbeddedRegistry()
    first = registry.register("trades-value", trade_schema)
    # The same schema, laid out differently, in another subject: same id, its own version.
    again = registry.register("copy-value", evolve(trade_schema, lambda s: None))
    assert (first.version, again.version) == (1, 1)
    assert first.schema_id == again.schema_id
    assert registry.register("trades-value", trade_schema) == first
    other = registry.register("names-value", '"string"')
    assert other.schema_id != first.schema_id
    assert registry.schema_by_id(first.schema_id) == first.schema


def test_versions_count_on_past_soft_deleted_ones(trade_schema: str) -> None:
    registry = EmbeddedRegistry()
    v1 = registry.register("t-value", trade_schema)
    v2 = registry.register("t-value", evolve(trade_schema, OPTIONAL_VENUE))
    assert [v.version for v in registry.versions("t-value")] == [1, 2]
    assert registry.delete_version("t-value", 2) == 2
    assert registry.latest("t-value") == v1
    v3 = registry.register("t-value", evolve(trade_schema, OPTIONAL_VENUE))
    assert (v3.version, v3.schema_id) == (3, v2.schema_id)
    assert [v.version for v in registry.versions("t-value", include_deleted=True)] == [1, 2, 3]


def test_soft_then_hard_deletion_follows_confluent(trade_schema: str) -> None:
    registry = EmbeddedRegistry()
    registered = registry.register("t-value", trade_schema)

    def code_of(call: object) -> int:
        with pytest.raises(RegistryNotFoundError) as caught:
            call()  # type: ignore[operator]
        return caught.value.code

    assert code_of(lambda: registry.delete_subject("t-value", permanent=True)) == 40405
    assert code_of(lambda: registry.delete_version("t-value", 1, permanent=True)) == 40407
    assert registry.delete_subject("t-value") == [1]
    assert registry.subjects() == [] and registry.subjects(include_deleted=True) == ["t-value"]
    assert code_of(lambda: registry.latest("t-value")) == ErrorCode.SUBJECT_NOT_FOUND
    assert code_of(lambda: registry.delete_subject("t-value")) == 40404
    assert code_of(lambda: registry.delete_version("t-value", 1)) == 40406
    assert registry.delete_subject("t-value", permanent=True) == [1]
    assert registry.subjects(include_deleted=True) == []
    assert code_of(lambda: registry.version("t-value", 1)) == 40401
    # Messages already written still carry the id, so the schema stays readable.
    assert registry.schema_by_id(registered.schema_id) == registered.schema


def test_unknown_things_are_not_found_with_their_code(trade_schema: str) -> None:
    registry = EmbeddedRegistry()
    registry.register("t-value", trade_schema)
    with pytest.raises(RegistryNotFoundError, match="no schema with id 99") as caught:
        registry.schema_by_id(99)
    assert caught.value.code == ErrorCode.SCHEMA_NOT_FOUND
    with pytest.raises(RegistryNotFoundError, match="has no version 7\n  hint: its versions are 1"):
        registry.version("t-value", 7)
    assert registry.lookup("t-value", '"string"') is None
    assert registry.versions("nobody-value") == []


def test_compatibility_levels_global_and_per_subject(trade_schema: str) -> None:
    registry = EmbeddedRegistry()
    assert registry.get_compatibility() is Compatibility.BACKWARD
    registry.register("t-value", trade_schema)
    with pytest.raises(IncompatibleSchemaError, match="field 'venue': added without a default"):
        registry.register("t-value", evolve(trade_schema, add_field(name="venue", type="string")))
    registry.set_compatibility("none", "t-value")
    assert registry.get_compatibility("t-value", fallback=False) is Compatibility.NONE
    assert registry.register("t-value", '"string"').version == 2
    registry.set_compatibility("FULL")
    assert registry.get_compatibility("other-value") is Compatibility.FULL
    assert registry.get_compatibility("other-value", fallback=False) is None
    assert registry.delete_compatibility("t-value") is Compatibility.NONE
    assert registry.get_compatibility("t-value") is Compatibility.FULL
    assert registry.delete_compatibility() is Compatibility.FULL
    assert registry.get_compatibility() is Compatibility.BACKWARD
    with pytest.raises(ConfigError, match="unknown compatibility level 'SIDEWAYS'"):
        registry.set_compatibility("SIDEWAYS")


def test_problems_against_one_version(trade_schema: str) -> None:
    registry = EmbeddedRegistry()
    registry.register("t-value", trade_schema)
    registry.register(
        "t-value", evolve(trade_schema, add_field(name="venue", type="string", default=""))
    )
    no_venue = evolve(trade_schema, add_field(name="venue", type="string"))
    assert registry.compatibility_problems("t-value", no_venue, against=2) == []
    assert "field 'venue'" in registry.compatibility_problems("t-value", no_venue, against=1)[0]


def test_a_reopened_file_keeps_ids_versions_and_config(tmp_path: Path, trade_schema: str) -> None:
    path = tmp_path / "state" / "registry.db"  # the folder does not exist yet
    registry = EmbeddedRegistry(path)
    v1 = registry.register("t-value", trade_schema)
    v2 = registry.register("t-value", evolve(trade_schema, OPTIONAL_VENUE))
    other = registry.register("s-value", '"string"')
    registry.set_compatibility("FULL", "t-value")
    registry.delete_subject("s-value")
    registry.close()

    reopened = EmbeddedRegistry(path)
    assert reopened.versions("t-value") == [v1, v2]
    assert reopened.schema_by_id(other.schema_id) == '"string"'
    assert reopened.get_compatibility("t-value") is Compatibility.FULL
    assert reopened.subjects() == ["t-value"]
    assert reopened.register("s-value", '"string"').version == 2  # numbering survived too
    reopened.close()


def test_a_locked_file_is_a_transient_error(tmp_path: Path, trade_schema: str) -> None:
    path = tmp_path / "registry.db"
    EmbeddedRegistry(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process in the middle of a registration
    registry = EmbeddedRegistry(path, busy_timeout_s=0.2)
    started = time.monotonic()
    with pytest.raises(TransientError, match="is busy"):
        registry.register("t-value", trade_schema)
    assert time.monotonic() - started < 5
    holder.execute("ROLLBACK")
    assert registry.register("t-value", trade_schema).version == 1
    holder.close()
    registry.close()


def test_an_unusable_path_is_a_config_error(tmp_path: Path) -> None:
    not_a_db = tmp_path / "notes.txt"
    not_a_db.write_text("these are not the tables you are looking for\n" * 100)
    with pytest.raises(ConfigError, match="cannot open the schema registry database"):
        EmbeddedRegistry(not_a_db)


SCHEMAS = [record("R", {"name": f"f{i}", "type": "int"}) for i in range(6)]


def register_all(path: str, order: list[int]) -> list[tuple[str, str, int, int]]:
    """One process's share of the race: every schema into two subjects, in its own order."""
    registry = EmbeddedRegistry(path)
    results = []
    for i in order:
        for subject in ("a-value", "b-value"):
            got = registry.register(subject, SCHEMAS[i])
            results.append((subject, SCHEMAS[i], got.version, got.schema_id))
    registry.close()
    return results


def test_processes_registering_at_once_agree(tmp_path: Path) -> None:
    path = str(tmp_path / "registry.db")
    setup = EmbeddedRegistry(path)
    setup.set_compatibility("NONE")  # the processes register in different orders
    setup.close()
    orders = [[0, 1, 2, 3, 4, 5], [5, 4, 3, 2, 1, 0], [2, 0, 4, 1, 5, 3], [3, 5, 1, 0, 2, 4]]
    with multiprocessing.get_context("spawn").Pool(len(orders)) as pool:
        runs = pool.starmap(register_all, [(path, order) for order in orders])

    final = EmbeddedRegistry(path)
    ids = {schema: final.lookup("a-value", schema) for schema in SCHEMAS}
    for subject in ("a-value", "b-value"):
        versions = final.versions(subject)
        assert [v.version for v in versions] == [1, 2, 3, 4, 5, 6]  # each schema once
    for run in runs:
        for subject, schema, version, schema_id in run:
            found = final.lookup(subject, schema)
            assert found is not None and (found.version, found.schema_id) == (version, schema_id)
            assert schema_id == ids[schema].schema_id  # type: ignore[union-attr]
    assert len({found.schema_id for found in ids.values() if found}) == len(SCHEMAS)
    final.close()
