"""Would the pipeline's schemas fit what is already stored? Checked before anything runs.

``lakeforge check`` asks two things of every topic's schema file, without writing:

* the schema registry: could the file be registered under the topic's subject at the
  subject's compatibility level (a removed required field, a changed type: refused)?
* the bronze table, if it exists: can it take the schema? A table gains new nullable
  columns (the runner adds them when it opens the table); any other difference is
  named here first, rather than when the runner opens the table.

Only what exists is read: a pipeline that never ran has nothing to be incompatible with.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa

from lakeforge.codec import AvroSchema
from lakeforge.errors import NotFoundError, SchemaError
from lakeforge.lake import Warehouse
from lakeforge.lake.evolve import added_columns
from lakeforge.lake.schema import canonical_schema
from lakeforge.profiles.connections import open_registry
from lakeforge.profiles.local import local_warehouse
from lakeforge.registry.base import SchemaRegistry, value_subject
from lakeforge.spec.model import Bronze, Pipeline
from lakeforge.stream.dead_letters import bronze_table_name
from lakeforge.stream.ingest import bronze_schema


def registry_problems(
    pipeline: Pipeline, schemas: Mapping[str, AvroSchema], registry: SchemaRegistry
) -> list[str]:
    """Why each topic's schema file could not be registered now; empty if all can."""
    problems = []
    subjects = set(registry.subjects())
    for topic in pipeline.topics:
        subject = value_subject(topic.name)
        schema = schemas.get(topic.name)
        if schema is None or subject not in subjects:
            continue
        found = registry.compatibility_problems(subject, schema.text)
        if found:
            latest = registry.latest(subject)
            where = f"topics[{topic.name}].schema ({topic.schema_file})"
            problems.append(
                f"{where} cannot replace version {latest.version} of {subject} in the "
                f"schema registry: " + "; ".join(found)
            )
    return problems


def bronze_problems(
    pipeline: Pipeline, schemas: Mapping[str, AvroSchema], warehouse: Warehouse
) -> list[str]:
    """How each existing bronze table's columns differ from what its schema file makes."""
    existing = {info.name for info in warehouse.list_tables()}
    problems = []
    for spec in pipeline.bronze:
        name = bronze_table_name(spec.table)
        schema = schemas.get(spec.topic)
        if schema is None or name not in existing:
            continue
        try:
            stored = warehouse.open_table(name).schema
        except NotFoundError:
            continue
        if (problem := table_problem(spec, stored, schema)) is not None:
            problems.append(problem)
    return problems


def table_problem(spec: Bronze, stored: pa.Schema, schema: AvroSchema) -> str | None:
    """Why the bronze table of ``spec``, with columns ``stored``, cannot take ``schema``."""
    wanted = canonical_schema(bronze_schema(schema.arrow_schema))
    try:
        added_columns(stored, wanted)  # new nullable columns are added when it runs
    except SchemaError as error:
        name = bronze_table_name(spec.table)
        return f"bronze[{spec.table}]: the existing table {name}: {error.what}"
    return None


def stored_problems(pipeline: Pipeline, schemas: Mapping[str, AvroSchema]) -> list[str]:
    """Problems between the pipeline's schemas and the registry and tables that exist."""
    problems = []
    # The embedded registry and the warehouse exist once the pipeline ran; a check must
    # not create them.
    if pipeline.registry.url or (pipeline.state_path / "registry.db").exists():
        registry = open_registry(pipeline)
        try:
            problems += registry_problems(pipeline, schemas, registry)
        finally:
            registry.close()
    if (pipeline.state_path / "warehouse").exists():
        with local_warehouse(pipeline) as warehouse:
            problems += bronze_problems(pipeline, schemas, warehouse)
    return problems
