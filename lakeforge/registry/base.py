"""The schema registry seam, in the terms of the Confluent Schema Registry.

A *subject* (``<topic>-value`` by Confluent's TopicNameStrategy) has numbered
*versions*; every distinct schema has one global *id*, the id written after the magic
byte of each message. The embedded registry implements this in-process on SQLite and
serves it over the Confluent REST API; in the cluster profile an HTTP client speaks to
any Confluent-compatible registry.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from enum import StrEnum


class Compatibility(StrEnum):
    """Confluent compatibility levels."""

    NONE = "NONE"
    BACKWARD = "BACKWARD"
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"
    FORWARD = "FORWARD"
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE"
    FULL = "FULL"
    FULL_TRANSITIVE = "FULL_TRANSITIVE"


@dataclass(frozen=True)
class RegisteredSchema:
    """One version of a subject."""

    subject: str
    version: int
    schema_id: int
    #: The Avro schema as JSON text, canonicalised by the registry.
    schema: str


def value_subject(topic: str) -> str:
    """The subject of a topic's message values (Confluent's TopicNameStrategy)."""
    return f"{topic}-value"


class SchemaRegistry(abc.ABC):
    """What lakeforge needs of a schema registry."""

    @abc.abstractmethod
    def register(self, subject: str, schema: str) -> RegisteredSchema:
        """Register ``schema`` under ``subject``, or return it if already registered.

        Raises :class:`~lakeforge.errors.SchemaError` when the schema is invalid or
        incompatible with the subject's compatibility level; the message names the
        fields at fault and why.
        """

    @abc.abstractmethod
    def schema_by_id(self, schema_id: int) -> str:
        """The schema text with this global id.

        Raises :class:`~lakeforge.errors.NotFoundError` for an unknown id.
        """

    @abc.abstractmethod
    def latest(self, subject: str) -> RegisteredSchema:
        """The newest version of ``subject``; NotFoundError when it has none."""

    @abc.abstractmethod
    def versions(self, subject: str) -> list[RegisteredSchema]:
        """Every live version of ``subject``, oldest first."""

    @abc.abstractmethod
    def subjects(self) -> list[str]:
        """Every subject with at least one live version."""

    @abc.abstractmethod
    def compatibility_problems(self, subject: str, schema: str) -> list[str]:
        """Why ``schema`` could not be registered under ``subject`` now; empty if it can."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
