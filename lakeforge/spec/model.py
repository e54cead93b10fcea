"""The pipeline description: an immutable, validated object read from ``pipeline.yaml``.

Describing a pipeline is kept apart from running it: runners (the embedded stream
runner now, Flink later) execute a :class:`Pipeline`; nothing here touches a log or a
table.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

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

    #: The most rows a batch takes; reached only at full speed (catching up), where each
    #: batch's two commits are the cost to spread: 200k rows caught up 10M trades at
    #: 517k/s against 394k/s with 100k, peak memory 459 MB against 420 (docs/benchmarks.md).
    batch_rows: int = Field(default=200_000, ge=1, le=10_000_000)
    #: The longest a batch waits for more messages; 400 ms keeps freshness p99 under 1 s
    #: at 100k records/s on 2 cores (docs/benchmarks.md).
    batch_interval: DurationMs = 400
    max_message_bytes: int = Field(default=1_048_576, ge=64)


#: Settings that hold passwords: read only from the environment, never from a file.
SECRET_SETTINGS = (
    ("kafka", "sasl_password"),
    ("kafka", "ssl_key_password"),
    ("registry", "password"),
)
#: Words that mark a librdkafka property as a secret, refused in ``kafka.settings``.
_SECRET_WORDS = ("password", "secret", "sasl.jaas", "token")


class Registry(_Spec):
    """The schema registry: embedded (local) or any Confluent-compatible one by URL."""

    #: The registry's URL; the local profile embeds one when unset, the cluster needs it.
    url: str | None = None
    #: Basic-auth user for the registry at ``url``.
    username: str | None = None
    #: Only from the environment (``LAKEFORGE__REGISTRY__PASSWORD``), never from a file.
    password: SecretStr | None = None
    #: Or a file holding the password (a mounted secret).
    password_file: Path | None = None
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


class Kafka(_Spec):
    """How the cluster profile reaches Apache Kafka (librdkafka's settings, by name)."""

    bootstrap_servers: str = Field(default="127.0.0.1:9092", min_length=1)
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    #: Only from the environment (``LAKEFORGE__KAFKA__SASL_PASSWORD``), never from a file.
    sasl_password: SecretStr | None = None
    #: Or a file holding the password (a mounted secret).
    sasl_password_file: Path | None = None
    #: TLS: the CA bundle to trust, and a client certificate and key for mutual TLS.
    ssl_ca_location: Path | None = None
    ssl_certificate_location: Path | None = None
    ssl_key_location: Path | None = None
    #: Only from the environment (``LAKEFORGE__KAFKA__SSL_KEY_PASSWORD``).
    ssl_key_password: SecretStr | None = None
    ssl_key_password_file: Path | None = None
    #: The consumer group runners join to share partitions; ``lakeforge-<pipeline>``
    #: when unset. Offsets committed there are for Kafka's tools: runners resume from
    #: the positions the tables store.
    consumer_group: str | None = Field(default=None, min_length=1, max_length=249)
    #: The longest any call to the cluster waits before a clear error.
    request_timeout: DurationMs = 30_000
    #: More librdkafka properties for every client (never secrets: those have fields).
    settings: dict[str, str] = Field(default_factory=dict)

    @field_validator("settings")
    @classmethod
    def _no_secrets(cls, settings: dict[str, str]) -> dict[str, str]:
        for name in settings:
            if any(word in name.lower() for word in _SECRET_WORDS):
                raise ValueError(
                    f"{name!r} holds a secret: never write secrets in files; use the "
                    "sasl_password or ssl_key_password settings from the environment, "
                    "or their *_file settings"
                )
        return settings

    @model_validator(mode="after")
    def _sasl_is_complete(self) -> Kafka:
        sasl = self.security_protocol.startswith("SASL")
        if sasl and (self.sasl_mechanism is None or not self.sasl_username):
            raise ValueError(
                f"security_protocol {self.security_protocol} needs sasl_mechanism and "
                "sasl_username, and the password from the environment or a file"
            )
        if sasl and self.sasl_password is None and self.sasl_password_file is None:
            raise ValueError(
                f"security_protocol {self.security_protocol} needs a password: set "
                "LAKEFORGE__KAFKA__SASL_PASSWORD or kafka.sasl_password_file"
            )
        if not sasl and (self.sasl_mechanism or self.sasl_username):
            raise ValueError(
                f"sasl_* settings need security_protocol SASL_PLAINTEXT or SASL_SSL, "
                f"not {self.security_protocol}"
            )
        return self


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


class Maintain(_Spec):
    """Upkeep of the stream's tables: compaction, snapshot expiry and vacuum."""

    #: How often ``lakeforge run`` maintains the tables while streaming; 0 turns that off.
    schedule: DurationMs = 600_000
    #: Compaction merges consecutive files of the same day smaller than half of this into
    #: files of about this size. One file per micro-batch otherwise: 216,000 files a day
    #: at 400 ms. 512 MB is Iceberg's own default target: at 100k trades/s (~50 GB of
    #: bronze a day) it keeps a day partition at about 100 files.
    target_file_mb: int = Field(default=512, ge=1, le=16_384)
    #: Files a reader may still need are kept this long after they leave the table. At
    #: least one hour: a file being written by a runner belongs to no commit yet, and
    #: must not look abandoned (Delta's rule for such files is their age).
    retain_hours: int = Field(default=1, ge=1, le=24 * 365)


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
    #: Compaction, snapshot expiry and vacuum (``lakeforge maintain``).
    maintain: Maintain = Maintain()
    #: Where it runs: ``local`` (embedded log and registry) or ``cluster`` (Kafka and a
    #: registry by URL). Chosen with ``--profile`` or ``LAKEFORGE__PROFILE`` too.
    profile: Literal["local", "cluster"] = "local"
    #: The cluster profile's Kafka; unused by the local profile.
    kafka: Kafka = Kafka()
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

    @property
    def transform_state_path(self) -> Path:
        """What lakeforge and dbt write for transforms."""
        return self.state_path / "transform"

    @property
    def pinned_path(self) -> Path:
        """Where transforms keep the Iceberg metadata of the bronze state they read.

        Vacuum keeps every file these copies name.
        """
        return self.transform_state_path / "pinned"

    def schema_path(self, topic: Topic) -> Path:
        """The schema file of ``topic``, resolved."""
        return (self.directory / topic.schema_file).resolve()
