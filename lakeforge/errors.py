"""The one root exception of lakeforge and its two kinds.

Every error a user can meet says what happened, to what, and what to do. Whether an
error is worth retrying is part of its type, so callers decide retries by kind and not
by parsing messages.
"""

from __future__ import annotations


class LakeforgeError(Exception):
    """Root of every error lakeforge raises on purpose.

    ``what`` says what went wrong and to what; ``hint`` says what the user can do.
    """

    #: Retrying the same call later may succeed (a locked file, a broker that is away).
    transient: bool = False

    def __init__(self, what: str, hint: str | None = None) -> None:
        self.what = what
        self.hint = hint
        super().__init__(what if hint is None else f"{what}\n  hint: {hint}")


class TransientError(LakeforgeError):
    """An error that may go away by itself: retry with backoff."""

    transient = True


class TerminalError(LakeforgeError):
    """An error that will not go away without a change by the user."""


class ConfigError(TerminalError):
    """A pipeline file, schema, rule, flag or environment variable is wrong."""


class SchemaError(TerminalError):
    """An Avro schema is invalid, unsupported, or incompatible with what is registered."""


class NotFoundError(TerminalError):
    """A topic, subject, schema id, table or pipeline that was asked for does not exist."""


class DataIntegrityError(TerminalError):
    """Stored data contradicts itself (a corrupt log, tables that disagree)."""


class AlreadyRunningError(TerminalError):
    """Another process already holds the lock this one needs (a second runner)."""
