"""Registry errors with the Confluent error codes they travel as over REST.

The embedded store raises them, the REST server turns them into Confluent error bodies,
and the HTTP client turns those bodies back into the same errors: a caller sees the same
exception whichever registry it talks to.
"""

from __future__ import annotations

from enum import IntEnum

from lakeforge.errors import NotFoundError, SchemaError


class ErrorCode(IntEnum):
    """Confluent Schema Registry error codes (``error_code`` in error bodies)."""

    SUBJECT_NOT_FOUND = 40401
    VERSION_NOT_FOUND = 40402
    SCHEMA_NOT_FOUND = 40403
    SUBJECT_SOFT_DELETED = 40404
    SUBJECT_NOT_SOFT_DELETED = 40405
    VERSION_SOFT_DELETED = 40406
    VERSION_NOT_SOFT_DELETED = 40407
    SUBJECT_LEVEL_CONFIG_NOT_FOUND = 40408
    INCOMPATIBLE_SCHEMA = 409
    INVALID_SCHEMA = 42201
    INVALID_VERSION = 42202
    INVALID_COMPATIBILITY_LEVEL = 42203
    INTERNAL = 50001
    TIMEOUT = 50002


class RegistryNotFoundError(NotFoundError):
    """A subject, version, schema id or subject config is missing, or in the wrong state.

    ``code`` is the Confluent error code saying which (40401 subject, 40402 version,
    40403 schema, 40404-40407 soft-deletion states, 40408 subject config).
    """

    def __init__(self, code: int, what: str, hint: str | None = None) -> None:
        self.code = code
        super().__init__(what, hint)


class IncompatibleSchemaError(SchemaError):
    """A valid schema that a subject's compatibility level refuses.

    ``problems`` holds one sentence per reason, each naming the field at fault.
    """

    def __init__(self, what: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            f"{what}: " + "; ".join(problems),
            "make the change compatible (e.g. give a new field a default), or change the "
            "subject's compatibility level if every reader and writer can follow",
        )
