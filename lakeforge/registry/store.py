"""The embedded schema registry: subjects, versions and global ids in one SQLite file.

Several processes may open the same file at once (a producer, the stream runner, the
REST server). WAL lets readers go on while one process writes, and each registration is
one ``BEGIN IMMEDIATE`` transaction, so two processes registering the same schema get the
same id and never the same version number.

Schema texts are never removed, even when every version using them is hard-deleted:
messages already in the log carry the id and must stay decodable. That is also why an
id, once read, can be cached for the life of the process.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lakeforge.errors import ConfigError, SchemaError, TransientError
from lakeforge.registry.base import Compatibility, RegisteredSchema, SchemaRegistry
from lakeforge.registry.compat import compatibility_problems, parse_level
from lakeforge.registry.errors import ErrorCode, IncompatibleSchemaError, RegistryNotFoundError
from lakeforge.registry.schemas import AvroSchema, parse

DEFAULT_COMPATIBILITY = Compatibility.BACKWARD
_GLOBAL = ""  # the config row of the global level; no subject may be empty
_DDL = """
CREATE TABLE IF NOT EXISTS schemas (
    id INTEGER PRIMARY KEY AUTOINCREMENT, canonical TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS versions (
    subject TEXT NOT NULL, version INTEGER NOT NULL,
    schema_id INTEGER NOT NULL REFERENCES schemas (id), deleted INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (subject, version));
CREATE INDEX IF NOT EXISTS versions_by_schema ON versions (schema_id);
CREATE TABLE IF NOT EXISTS config (subject TEXT PRIMARY KEY, compatibility TEXT NOT NULL);
"""
_ROWS = """
SELECT v.subject, v.version, v.schema_id, s.canonical
FROM versions v JOIN schemas s ON s.id = v.schema_id
WHERE v.subject = ? AND (? OR v.deleted = 0) ORDER BY v.version
"""


class EmbeddedRegistry(SchemaRegistry):
    """A Confluent-style schema registry in a SQLite file, or in memory for ``":memory:"``."""

    def __init__(self, path: str | Path = ":memory:", *, busy_timeout_s: float = 30.0) -> None:
        self.path = str(path)
        self._schema_by_id: dict[int, str] = {}
        # One connection shared by the server's threads; the lock keeps transactions whole.
        self._lock = threading.RLock()
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.executescript(_DDL)
        except (OSError, sqlite3.DatabaseError) as exc:
            raise ConfigError(
                f"cannot open the schema registry database {self.path}: {exc}",
                "give a writable path to a registry database (or a new file)",
            ) from None

    def register(self, subject: str, schema: str) -> RegisteredSchema:
        """Register ``schema`` under ``subject``, or return the live version that has it."""
        if not subject:
            raise SchemaError("a subject name may not be empty", "name it <topic>-value")
        parsed = parse(schema)
        with self._transaction(write=True) as db:
            rows = self._rows(db, subject)
            same = [r for r in rows if r.schema == parsed.canonical]
            if same:
                return same[-1]
            level = self._level(db, subject)
            existing = {r.version: parse(r.schema) for r in rows}
            problems = compatibility_problems(parsed, existing, level)
            if problems:
                raise IncompatibleSchemaError(
                    f"schema is incompatible with subject '{subject}' ({level.value})", problems
                )
            db.execute("INSERT OR IGNORE INTO schemas (canonical) VALUES (?)", (parsed.canonical,))
            (schema_id,) = db.execute(
                "SELECT id FROM schemas WHERE canonical = ?", (parsed.canonical,)
            ).fetchone()
            # Versions keep counting past soft-deleted ones, as Confluent's do.
            (version,) = db.execute(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM versions WHERE subject = ?", (subject,)
            ).fetchone()
            db.execute(
                "INSERT INTO versions (subject, version, schema_id) VALUES (?, ?, ?)",
                (subject, version, schema_id),
            )
        return RegisteredSchema(subject, version, schema_id, parsed.canonical)

    def lookup(
        self, subject: str, schema: str, *, include_deleted: bool = False
    ) -> RegisteredSchema | None:
        """Return the newest version of ``subject`` holding ``schema``, or None."""
        canonical = parse(schema).canonical
        with self._transaction() as db:
            rows = self._rows(db, subject, include_deleted)
        return next((r for r in reversed(rows) if r.schema == canonical), None)

    def schema_by_id(self, schema_id: int) -> str:
        """Return the schema text with this global id (cached: ids never change meaning)."""
        cached = self._schema_by_id.get(schema_id)
        if cached is not None:
            return cached
        with self._transaction() as db:
            row = db.execute("SELECT canonical FROM schemas WHERE id = ?", (schema_id,)).fetchone()
        if row is None:
            raise RegistryNotFoundError(
                ErrorCode.SCHEMA_NOT_FOUND,
                f"no schema with id {schema_id} in the registry {self.path}",
                "the data was written against another registry; point this one at it",
            )
        self._schema_by_id[schema_id] = row[0]
        return str(row[0])

    def version(
        self, subject: str, number: int | None, *, include_deleted: bool = False
    ) -> RegisteredSchema:
        """Return version ``number`` of ``subject``, or its newest when ``number`` is None."""
        with self._transaction() as db:
            return self._find(db, subject, number, include_deleted)

    def latest(self, subject: str) -> RegisteredSchema:
        """Return the newest live version of ``subject``."""
        return self.version(subject, None)

    def versions(self, subject: str, *, include_deleted: bool = False) -> list[RegisteredSchema]:
        """Return the versions of ``subject``, oldest first; empty for an unknown subject."""
        with self._transaction() as db:
            return self._rows(db, subject, include_deleted)

    def subjects(self, *, include_deleted: bool = False) -> list[str]:
        """List every subject with a live version (or any version, with ``include_deleted``)."""
        with self._transaction() as db:
            rows = db.execute(
                "SELECT DISTINCT subject FROM versions WHERE ? OR deleted = 0 ORDER BY subject",
                (include_deleted,),
            ).fetchall()
        return [r[0] for r in rows]

    def uses_of(self, schema_id: int, *, include_deleted: bool = False) -> list[tuple[str, int]]:
        """Return the (subject, version) pairs that hold the schema with this id."""
        self.schema_by_id(schema_id)  # NotFoundError for an unknown id
        with self._transaction() as db:
            rows = db.execute(
                "SELECT subject, version FROM versions WHERE schema_id = ? AND (? OR deleted = 0)"
                " ORDER BY subject, version",
                (schema_id, include_deleted),
            ).fetchall()
        return [(r[0], r[1]) for r in rows]

    def compatibility_problems(
        self, subject: str, schema: str, *, against: int | None = None
    ) -> list[str]:
        """Why ``schema`` could not follow ``subject``'s versions, or only version ``against``."""
        parsed = parse(schema)
        with self._transaction() as db:
            level = self._level(db, subject)
            rows = (
                self._rows(db, subject) if against is None else [self._find(db, subject, against)]
            )
        existing: dict[int, AvroSchema] = {r.version: parse(r.schema) for r in rows}
        return compatibility_problems(parsed, existing, level)

    def set_compatibility(self, level: str, subject: str | None = None) -> Compatibility:
        """Set the level of ``subject``, or the global level when it is None."""
        parsed = parse_level(level)
        with self._transaction(write=True) as db:
            db.execute(
                "INSERT INTO config (subject, compatibility) VALUES (?, ?)"
                " ON CONFLICT (subject) DO UPDATE SET compatibility = excluded.compatibility",
                (subject or _GLOBAL, parsed.value),
            )
        return parsed

    def get_compatibility(
        self, subject: str | None = None, *, fallback: bool = True
    ) -> Compatibility | None:
        """Return the level of ``subject`` (its own, else the global one if ``fallback``)."""
        with self._transaction() as db:
            if subject and not fallback:
                return self._own_level(db, subject)
            return self._level(db, subject or _GLOBAL)

    def delete_compatibility(self, subject: str | None = None) -> Compatibility | None:
        """Drop a subject's own level (or reset the global one); return the level dropped."""
        with self._transaction(write=True) as db:
            old = self._own_level(db, subject or _GLOBAL)
            db.execute("DELETE FROM config WHERE subject = ?", (subject or _GLOBAL,))
        if subject:
            return old  # None: the subject had no level of its own
        return old or DEFAULT_COMPATIBILITY

    def delete_subject(self, subject: str, *, permanent: bool = False) -> list[int]:
        """Soft-delete every live version, or hard-delete a soft-deleted subject."""
        with self._transaction(write=True) as db:
            rows = self._rows(db, subject, True)
            live = [r.version for r in self._rows(db, subject)]
            if not rows:
                raise self._no_subject(subject)
            if not permanent and not live:
                raise _wrong_state(ErrorCode.SUBJECT_SOFT_DELETED, f"subject '{subject}'")
            if permanent and live:
                raise _wrong_state(ErrorCode.SUBJECT_NOT_SOFT_DELETED, f"subject '{subject}'")
            if permanent:
                db.execute("DELETE FROM versions WHERE subject = ?", (subject,))
                db.execute("DELETE FROM config WHERE subject = ?", (subject,))
                return [r.version for r in rows]
            db.execute("UPDATE versions SET deleted = 1 WHERE subject = ?", (subject,))
            return live

    def delete_version(self, subject: str, number: int | None, *, permanent: bool = False) -> int:
        """Soft-delete a version (None: the newest live one), or hard-delete a soft-deleted one."""
        with self._transaction(write=True) as db:
            # A numbered version is looked up among deleted ones too, to say it was deleted.
            found = self._find(db, subject, number, permanent or number is not None)
            is_live = any(r.version == found.version for r in self._rows(db, subject))
            what = f"version {found.version} of subject '{subject}'"
            if not permanent and not is_live:
                raise _wrong_state(ErrorCode.VERSION_SOFT_DELETED, what)
            if permanent and is_live:
                raise _wrong_state(ErrorCode.VERSION_NOT_SOFT_DELETED, what)
            db.execute(
                "DELETE FROM versions WHERE subject = ? AND version = ?"
                if permanent
                else "UPDATE versions SET deleted = 1 WHERE subject = ? AND version = ?",
                (subject, found.version),
            )
        return found.version

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self, *, write: bool = False) -> Iterator[sqlite3.Connection]:
        """One transaction; a write one takes SQLite's write lock up front (no upgrade races)."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            except sqlite3.OperationalError as exc:
                raise TransientError(
                    f"the schema registry database {self.path} is busy: {exc}",
                    "another process holds it too long; retry, or look for a stuck process",
                ) from None
            try:
                yield self._db
            except sqlite3.OperationalError as exc:
                self._db.execute("ROLLBACK")
                raise TransientError(
                    f"the schema registry database {self.path} failed: {exc}", "retry"
                ) from None
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _rows(
        self, db: sqlite3.Connection, subject: str, include_deleted: bool = False
    ) -> list[RegisteredSchema]:
        rows = db.execute(_ROWS, (subject, include_deleted)).fetchall()
        return [RegisteredSchema(*r) for r in rows]

    def _find(
        self,
        db: sqlite3.Connection,
        subject: str,
        number: int | None,
        include_deleted: bool = False,
    ) -> RegisteredSchema:
        rows = self._rows(db, subject, include_deleted)
        found = rows[-1:] if number is None else [r for r in rows if r.version == number]
        if not rows:
            raise self._no_subject(subject)
        if not found:
            raise RegistryNotFoundError(
                ErrorCode.VERSION_NOT_FOUND,
                f"subject '{subject}' has no version {number}",
                f"its versions are {', '.join(str(r.version) for r in rows)}",
            )
        return found[0]

    def _own_level(self, db: sqlite3.Connection, subject: str) -> Compatibility | None:
        row = db.execute(
            "SELECT compatibility FROM config WHERE subject = ?", (subject,)
        ).fetchone()
        return None if row is None else Compatibility(row[0])

    def _level(self, db: sqlite3.Connection, subject: str) -> Compatibility:
        own = self._own_level(db, subject)
        if own is not None:
            return own
        return self._own_level(db, _GLOBAL) or DEFAULT_COMPATIBILITY

    def _no_subject(self, subject: str) -> RegistryNotFoundError:
        return RegistryNotFoundError(
            ErrorCode.SUBJECT_NOT_FOUND,
            f"no subject '{subject}' in the schema registry {self.path}",
            "register a schema under it first, or check the topic name (<topic>-value)",
        )


def _wrong_state(code: ErrorCode, what: str) -> RegistryNotFoundError:
    """Confluent's two-step deletion: soft first, then permanent."""
    if code in (ErrorCode.SUBJECT_SOFT_DELETED, ErrorCode.VERSION_SOFT_DELETED):
        return RegistryNotFoundError(
            code,
            f"{what} was soft-deleted already",
            "delete it with permanent=true to remove it for good",
        )
    return RegistryNotFoundError(
        code,
        f"{what} must be soft-deleted before it is deleted permanently",
        "delete it once without permanent=true, then again with it",
    )
