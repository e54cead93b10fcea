"""The pipeline description: an immutable, validated object read from ``pipeline.yaml``.

Describing a pipeline is kept apart from running it: runners (the embedded stream
runner now, Flink later) execute a :class:`Pipeline`; nothing here touches a log or a
table.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_duration_ms(value: object) -> int:
    """Read a duration such as ``500ms``, ``2s``, ``7d`` or a number of milliseconds."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of milliseconds or text like 500ms, 2s, 7d")
    if isinstance(value, int | float):
        return int(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a duration: use a number with ms, s, m, h or d")
    number, unit = match.groups()
    return int(float(number) * _UNIT_MS[unit or "ms"])


DurationMs = Annotated[int, BeforeValidator(parse_duration_ms), Field(ge=0)]
Name = Annotated[str, Field(pattern=NAME_PATTERN)]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Topic(_Spec):
    """A topic on the bus and the Avro schema of its message values."""

    name: Name
    schema_file: Path = Field(alias="schema")
    partitions: int = Field(default=4, ge=1, le=1024)
    #: The field whose value decides a message's partition (keeps a symbol in order).
    key: str | None = None
    #: The field holding when a record happened; freshness is measured from it.
    event_time: str | None = None
    retention: DurationMs | None = 7 * 86_400_000


class Rule(_Spec):
    """A validation rule: a SQL boolean expression every good record satisfies.

    A record for which the expression is false or NULL goes to the dead letters with
    the rule's name as its reason.
    """

    name: Name
    check: str = Field(min_length=1)

    @field_validator("check")
    @classmethod
    def _one_expression(cls, check: str) -> str:
        if ";" in check:
            raise ValueError("a rule is one SQL expression; remove the ';'")
        return check


class Bronze(_Spec):
    """A bronze table: every good record of a topic, as it arrived, plus ingestion columns."""

    table: Name
    topic: Name
    formats: tuple[Literal["iceberg", "delta"], ...] = ("iceberg", "delta")
    rules: tuple[Rule, ...] = ()


class Source(_Spec):
    """Where records come from when lakeforge produces them itself."""

    kind: Literal["synthetic"] = "synthetic"
    #: Which generator makes the records (``trades`` for the stock example).
    generator: str = "trades"
    topic: Name
    seed: int = 42
    symbols: int = Field(default=50, ge=1, le=500)
    #: Records per second; 0 produces as fast as the machine allows.
    rate: float = Field(default=100_000, ge=0)


class Stream(_Spec):
    """How the stream runner cuts micro-batches."""

    batch_rows: int = Field(default=100_000, ge=1, le=10_000_000)
    #: The longest a batch waits for more messages; 400 ms keeps freshness p99 under 1 s
    #: at 100k records/s on 2 cores (docs/benchmarks.md).
    batch_interval: DurationMs = 400
    max_message_bytes: int = Field(default=1_048_576, ge=64)


class Registry(_Spec):
    """The schema registry: embedded (local) or any Confluent-compatible one by URL."""

    url: str | None = None
    compatibility: Literal[
        "NONE",
        "BACKWARD",
        "BACKWARD_TRANSITIVE",
        "FORWARD",
        "FORWARD_TRANSITIVE",
        "FULL",
        "FULL_TRANSITIVE",
    ] = "BACKWARD"
    port: int = Field(default=8081, ge=0, le=65535)


class Transform(_Spec):
    """The dbt project that builds silver and gold from bronze, and how often it runs."""

    #: The dbt project folder, relative to ``pipeline.yaml``.
    project: Path = Path("dbt")
    #: How often ``lakeforge run`` transforms while streaming; 0 turns that off.
    schedule: DurationMs = 30_000
    #: dbt threads: models without dependencies between them build in parallel.
    threads: int = Field(default=1, ge=1, le=64)
    #: A model (``schema.name``) whose rows carry the event time and ``_transform_run``:
    #: freshness event -> gold is measured over the rows each run brings to it.
    freshness_model: str | None = Field(default=None, pattern=r"^[A-Za-z_]\w*\.[A-Za-z_]\w*$")
    #: Its event-time column.
    freshness_column: str = "event_time"


class Pipeline(_Spec):
    """A whole pipeline as ``pipeline.yaml`` describes it."""

    name: Name
    description: str = ""
    topics: tuple[Topic, ...] = Field(min_length=1)
    source: Source | None = None
    bronze: tuple[Bronze, ...] = Field(min_length=1)
    stream: Stream = Stream()
    registry: Registry = Registry()
    #: Silver and gold; ``None`` for a pipeline that stops at bronze.
    transform: Transform | None = None
    #: Where the local profile keeps its log, registry and warehouse.
    state_dir: Path = Path(".lakeforge")
    #: The folder of ``pipeline.yaml``; relative paths are resolved against it.
    directory: Path = Field(default=Path("."), exclude=True)

    def topic(self, name: str) -> Topic:
        """The topic called ``name``."""
        for topic in self.topics:
            if topic.name == name:
                return topic
        raise KeyError(name)

    @property
    def state_path(self) -> Path:
        """The state directory, resolved."""
        return (self.directory / self.state_dir).resolve()

    @property
    def transform_project_path(self) -> Path | None:
        """The dbt project folder, resolved; ``None`` without a transform."""
        if self.transform is None:
            return None
        return (self.directory / self.transform.project).resolve()

    def schema_path(self, topic: Topic) -> Path:
        """The schema file of ``topic``, resolved."""
        return (self.directory / topic.schema_file).resolve()
