"""``lakeforge check`` compares the schema files with the registry and bronze tables.

A pipeline that ran has a registered schema and a bronze table; a schema change that
either would refuse is named by ``check`` (which field, and why) before anything runs,
and nothing is written by checking.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from lakeforge.registry import EmbeddedRegistry
from lakeforge.serve.extensions import load_lake_extensions
from tests.lakeforge_cli import lakeforge, lakeforge_json
from tests.registry.schema_edits import field_of


def edit_schema(pipeline: Path, change) -> None:  # type: ignore[no-untyped-def]
    path = pipeline / "schemas" / "trade.avsc"
    schema = json.loads(path.read_text())
    change(schema)
    path.write_text(json.dumps(schema, indent=2))


@pytest.fixture
def ran(stocks: Path) -> Path:
    """The stocks pipeline after 1,000 trades went through it."""
    lakeforge("produce", "--count", "1000", "--rate", "0", "--quiet", pipeline=stocks)
    lakeforge("process", "--until-drained", "--quiet", pipeline=stocks)
    return stocks


def state_files(pipeline: Path) -> dict[str, int]:
    state = pipeline / ".lakeforge"
    return {str(p): p.stat().st_mtime_ns for p in state.rglob("*") if p.is_file()}


def test_a_pipeline_that_never_ran_checks_and_creates_nothing(stocks: Path) -> None:
    assert lakeforge_json("check", pipeline=stocks)["ok"]
    assert not (stocks / ".lakeforge").exists()


def test_an_unchanged_pipeline_fits_what_is_stored(ran: Path) -> None:
    result = lakeforge("check", pipeline=ran)
    assert "fit the registry and the bronze tables" in result.stdout


def test_a_type_change_is_named_by_the_registry_and_the_table(ran: Path) -> None:
    edit_schema(ran, lambda s: field_of(s, "trade_id").update(type="string"))
    before = state_files(ran)
    result = lakeforge("check", pipeline=ran, check=False)
    assert result.returncode == 2, result.stderr
    assert "topics[trades].schema (schemas/trade.avsc) cannot replace version 1" in result.stderr
    assert "trade_id" in result.stderr and "BACKWARD" in result.stderr.upper()
    assert "bronze[trades]: the existing table bronze.trades: column trade_id" in result.stderr
    assert "hint:" in result.stderr and "Traceback" not in result.stderr
    # Checking wrote nothing: no new schema version, no table change.
    registry = EmbeddedRegistry(ran / ".lakeforge" / "registry.db")
    assert [v.version for v in registry.versions("trades-value")] == [1]
    registry.close()
    assert state_files(ran) == before
    # The files alone are still valid.
    assert lakeforge_json("check", "--offline", pipeline=ran)["compared_with_stored"] is False


def test_a_removed_field_is_named_by_the_table(ran: Path) -> None:
    edit_schema(ran, lambda s: s["fields"].remove(field_of(s, "exchange")))
    result = lakeforge("check", pipeline=ran, check=False)
    assert result.returncode == 2
    assert "column exchange is missing" in result.stderr


def test_a_new_field_without_a_default_is_refused_by_the_registry(ran: Path) -> None:
    edit_schema(ran, lambda s: s["fields"].append({"name": "venue_id", "type": "int"}))
    result = lakeforge("check", pipeline=ran, check=False)
    assert result.returncode == 2
    assert "venue_id" in result.stderr and "cannot replace version 1" in result.stderr


def test_a_new_optional_field_evolves_both_bronze_tables(ran: Path) -> None:
    """Version 2 adds an optional field: both versions land, both formats gain it."""
    # Version 1 messages still waiting on the log when the schema changes.
    lakeforge("produce", "--count", "1000", "--rate", "0", "--quiet", pipeline=ran)
    field = {"name": "venue", "type": ["null", "string"], "default": None}
    edit_schema(ran, lambda s: s["fields"].append(field))
    assert lakeforge_json("check", pipeline=ran)["ok"]  # compatible, and the table can grow
    lakeforge("produce", "--count", "1000", "--rate", "0", "--quiet", pipeline=ran)
    registry = EmbeddedRegistry(ran / ".lakeforge" / "registry.db")
    assert [v.version for v in registry.versions("trades-value")] == [1, 2]
    registry.close()
    lakeforge("process", "--until-drained", "--quiet", pipeline=ran)
    assert lakeforge_json("verify", pipeline=ran)["ok"]
    for view in ("bronze.trades", "bronze_delta.trades"):
        sql = (
            "SELECT count(*) AS n, count(DISTINCT _schema_id) AS versions, "
            f"count(venue) AS venues FROM {view}"
        )
        rows = json.loads(lakeforge("query", sql, "--format", "json", pipeline=ran).stdout)
        assert rows == [{"n": 3000, "versions": 2, "venues": 0}], view
    # dbt builds on the evolved sources (its Iceberg-equals-Delta test included), and the
    # pinned source views it reads carry the new column.
    lakeforge("transform", "--quiet", pipeline=ran)
    work = duckdb.connect(str(ran / ".lakeforge" / "transform" / "work.duckdb"), read_only=True)
    load_lake_extensions(work)
    for view in ("bronze.trades", "bronze_delta.trades"):
        counted = work.sql(f"SELECT count(*), count(venue) FROM {view}").fetchone()
        assert counted == (3000, 0), view
    work.close()
