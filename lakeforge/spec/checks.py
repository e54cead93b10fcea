"""Checks of a pipeline that need its schemas: references, keys and rules.

Everything is checked before anything runs, and every problem found is reported at
once rather than one per attempt.
"""

from __future__ import annotations

from lakeforge.codec import AvroSchema
from lakeforge.errors import ConfigError, LakeforgeError
from lakeforge.spec.model import Pipeline
from lakeforge.stream.rules import RuleSet


def check_pipeline(pipeline: Pipeline) -> dict[str, AvroSchema]:
    """Check ``pipeline`` fully; return each topic's parsed schema by topic name."""
    problems: list[str] = []
    schemas: dict[str, AvroSchema] = {}
    names = [topic.name for topic in pipeline.topics]
    for name in {n for n in names if names.count(n) > 1}:
        problems.append(f"topic {name!r} is declared more than once")
    for topic in pipeline.topics:
        path = pipeline.schema_path(topic)
        if not path.is_file():
            problems.append(f"topics[{topic.name}].schema: no schema file at {path}")
            continue
        try:
            schema = AvroSchema.load(path)
        except LakeforgeError as exc:
            problems.append(f"topics[{topic.name}].schema: {exc.what}")
            continue
        schemas[topic.name] = schema
        for setting in ("key", "event_time"):
            field = getattr(topic, setting)
            if field is not None and field not in schema.field_names:
                problems.append(
                    f"topics[{topic.name}].{setting}: no field {field!r} in {path.name}; "
                    f"fields: {', '.join(schema.field_names)}"
                )
    if pipeline.source and pipeline.source.topic not in names:
        problems.append(f"source.topic: unknown topic {pipeline.source.topic!r}; topics: {names}")
    tables = [bronze.table for bronze in pipeline.bronze]
    for name in {t for t in tables if tables.count(t) > 1}:
        problems.append(f"bronze table {name!r} is declared more than once")
    for bronze in pipeline.bronze:
        if bronze.topic not in names:
            problems.append(f"bronze[{bronze.table}].topic: unknown topic {bronze.topic!r}")
        elif bronze.topic in schemas:
            try:
                RuleSet(
                    bronze.rules,
                    schemas[bronze.topic].arrow_schema,
                    where=f"bronze[{bronze.table}].rules",
                ).close()
            except ConfigError as exc:
                problems.append(str(exc))
    project = pipeline.transform_project_path
    if project is not None and not (project / "dbt_project.yml").is_file():
        problems.append(f"transform.project: no dbt_project.yml in {project}")
    if problems:
        raise ConfigError(
            f"{pipeline.directory / 'pipeline.yaml'}: {len(problems)} problem"
            f"{'s' if len(problems) > 1 else ''}:\n  " + "\n  ".join(problems)
        )
    return schemas
