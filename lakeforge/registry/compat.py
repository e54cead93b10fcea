"""Schema compatibility, by the Avro specification's schema-resolution rules.

Every check asks one question: can a *reader* holding one schema read data written with
another (the *writer*'s)? The Confluent levels combine it: BACKWARD reads data written
with the old schema using the new one (consumers upgrade first), FORWARD reads new data
with the old schema (producers upgrade first), FULL asks both, and the ``_TRANSITIVE``
levels ask it of every registered version instead of the latest only.

Beyond the specification, a changed logical type is refused: the bytes still decode, but
a ``timestamp-millis`` read as ``timestamp-micros`` is a silently wrong value, and the
table columns derived from the schema could not follow the change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lakeforge.errors import ConfigError
from lakeforge.registry.base import Compatibility
from lakeforge.registry.schemas import NAMED_KINDS, AvroSchema, describe, kind, resolve

# Writer type -> the reader types that can read it (Avro spec, "Schema Resolution").
PROMOTIONS: dict[str, frozenset[str]] = {
    "int": frozenset({"long", "float", "double"}),
    "long": frozenset({"float", "double"}),
    "float": frozenset({"double"}),
    "string": frozenset({"bytes"}),
    "bytes": frozenset({"string"}),
}
# The specification tells readers to ignore unknown logical types, so only these count.
LOGICAL_TYPES = frozenset(
    {
        "decimal", "big-decimal", "uuid", "date", "time-millis", "time-micros",
        "timestamp-millis", "timestamp-micros", "timestamp-nanos", "local-timestamp-millis",
        "local-timestamp-micros", "local-timestamp-nanos", "duration",
    }
)  # fmt: skip

_BACKWARD_LEVELS = {"BACKWARD", "BACKWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE"}
_FORWARD_LEVELS = {"FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE"}


def parse_level(level: str) -> Compatibility:
    """Read a compatibility level from its name, any case; ConfigError lists valid ones."""
    try:
        return Compatibility(str(level).upper())
    except ValueError:
        raise ConfigError(
            f"unknown compatibility level {level!r}",
            f"use one of {', '.join(c.value for c in Compatibility)}",
        ) from None


def compatibility_problems(
    new: AvroSchema, existing: Mapping[int, AvroSchema], level: Compatibility
) -> list[str]:
    """Why ``new`` may not follow ``existing`` (version -> schema) under ``level``.

    Only the newest of ``existing`` counts unless the level is transitive. An empty list
    means compatible.
    """
    if level is Compatibility.NONE or not existing:
        return []
    transitive = level.value.endswith("_TRANSITIVE")
    versions = sorted(existing, reverse=True)
    against = versions if transitive else versions[:1]
    problems: list[str] = []
    for version in against:
        old = existing[version]
        suffix = f", version {version}" if transitive else ""
        if level.value in _BACKWARD_LEVELS:
            label = (
                level.value if level.value.startswith("BACKWARD") else f"{level.value}: backward"
            )
            problems += _reading_problems(new, old, reader_is_new=True, label=label + suffix)
        if level.value in _FORWARD_LEVELS:
            label = level.value if level.value.startswith("FORWARD") else f"{level.value}: forward"
            problems += _reading_problems(old, new, reader_is_new=False, label=label + suffix)
    return list(dict.fromkeys(problems))  # one sentence per problem, first seen first


def _reading_problems(
    reader: AvroSchema, writer: AvroSchema, *, reader_is_new: bool, label: str
) -> list[str]:
    reading = _Reading(reader.names, writer.names, reader_is_new, label)
    reading.check(reader.tree, writer.tree, "")
    return reading.problems


@dataclass
class _Reading:
    """One reader-against-writer walk, collecting a sentence per problem found."""

    reader_names: Mapping[str, Any]
    writer_names: Mapping[str, Any]
    reader_is_new: bool
    label: str
    problems: list[str] = field(default_factory=list)
    # Pairs of named types already being compared: recursive types would never end.
    seen: set[tuple[str, str]] = field(default_factory=set)

    def check(self, reader: Any, writer: Any, path: str) -> None:
        """Add the problems of reading ``writer`` data with ``reader`` at ``path``."""
        reader = resolve(reader, self.reader_names)
        writer = resolve(writer, self.writer_names)
        # Every branch of a writer union may have been written, so each must be readable.
        for branch in writer if isinstance(writer, list) else [writer]:
            branch = resolve(branch, self.writer_names)
            target = self._pick(reader, branch) if isinstance(reader, list) else reader
            if target is None or not self._matches(target, branch):
                self._mismatch(path, reader, writer, branch)
            else:
                self._resolve(resolve(target, self.reader_names), branch, path)

    def _pick(self, union: list[Any], writer: Any) -> Any:
        """Pick the reader branch the spec resolves ``writer`` against: exact, then promoted."""
        branches = [resolve(b, self.reader_names) for b in union]
        for branch in branches:
            if kind(branch) == kind(writer) and self._matches(branch, writer):
                return branch
        return next((b for b in branches if self._matches(b, writer)), None)

    def _matches(self, reader: Any, writer: Any) -> bool:
        reader_kind, writer_kind = kind(reader), kind(writer)
        if reader_kind in NAMED_KINDS and reader_kind == writer_kind:
            return _same_name(reader, writer)
        return reader_kind == writer_kind or reader_kind in PROMOTIONS.get(writer_kind, ())

    def _resolve(self, reader: Any, writer: Any, path: str) -> None:
        writer_kind = kind(writer)
        if writer_kind in ("record", "error"):
            self._record(reader, writer, path)
        elif writer_kind == "enum":
            self._enum(reader, writer, path)
        elif writer_kind == "array":
            self.check(reader["items"], writer["items"], f"{path}[]")
        elif writer_kind == "map":
            self.check(reader["values"], writer["values"], f"{path}{{}}")
        else:
            if writer_kind == "fixed" and reader["size"] != writer["size"]:
                old, new = self._old_new(reader["size"], writer["size"])
                self._problem(path, f"fixed size changed from {old} to {new} bytes")
            self._logical(reader, writer, path)

    def _record(self, reader: dict[str, Any], writer: dict[str, Any], path: str) -> None:
        pair = (reader["name"], writer["name"])
        if pair in self.seen:
            return
        self.seen.add(pair)
        written = {f["name"]: f for f in writer["fields"]}
        for reader_field in reader["fields"]:
            name = reader_field["name"]
            field_path = f"{path}.{name}" if path else name
            candidates = [name, *reader_field.get("aliases", ())]
            writer_field = next((written[n] for n in candidates if n in written), None)
            if writer_field is not None:
                self.check(reader_field["type"], writer_field["type"], field_path)
            elif "default" not in reader_field:
                self._problem(
                    field_path,
                    "added without a default; the new schema cannot read data written with "
                    "the old one, which lacks it"
                    if self.reader_is_new
                    else "removed, and the old schema has no default for it; readers using "
                    "the old schema cannot read new data, which lacks it",
                )

    def _enum(self, reader: dict[str, Any], writer: dict[str, Any], path: str) -> None:
        unreadable = [s for s in writer["symbols"] if s not in reader["symbols"]]
        if not unreadable or reader.get("default") in reader["symbols"]:
            return  # a reader's enum default stands in for symbols it does not know
        listed = ", ".join(unreadable)
        self._problem(
            path,
            f"enum symbols removed: {listed}; data written with the old schema may hold "
            "them and the new enum has no default"
            if self.reader_is_new
            else f"enum symbols added: {listed}; readers using the old schema cannot read "
            "them and the old enum has no default",
        )

    def _logical(
        self, reader: dict[str, Any] | str, writer: dict[str, Any] | str, path: str
    ) -> None:
        reader_logical, writer_logical = _logical_type(reader), _logical_type(writer)
        if reader_logical != writer_logical:
            old, new = self._old_new(reader_logical or "none", writer_logical or "none")
            self._problem(
                path,
                f"logical type changed from {old} to {new}; the same bytes would be read "
                "as a different kind of value",
            )
        elif reader_logical == "decimal" and isinstance(reader, dict) and isinstance(writer, dict):
            if reader.get("scale", 0) != writer.get("scale", 0):
                old, new = self._old_new(reader.get("scale", 0), writer.get("scale", 0))
                self._problem(path, f"decimal scale changed from {old} to {new}")
            elif reader.get("precision", 0) < writer.get("precision", 0):
                self._problem(
                    path,
                    f"decimal precision {writer.get('precision')} does not fit a reader with "
                    f"precision {reader.get('precision')}",
                )

    def _mismatch(self, path: str, reader: Any, writer: Any, written: Any) -> None:
        reader_text = describe(reader, self.reader_names)
        writer_text = describe(writer, self.writer_names)
        old, new = self._old_new(reader_text, writer_text)
        why = (
            f"; a reader expecting {reader_text} cannot read {describe(written, self.writer_names)}"
        )
        if kind(reader) == kind(written) and kind(reader) in NAMED_KINDS:
            why += "; names must match, or the reader must list the writer's name in its aliases"
        self._problem(path, f"type changed from {old} to {new}{why}")

    def _old_new(self, reader_side: Any, writer_side: Any) -> tuple[Any, Any]:
        """Put a reader/writer pair in old -> new order for the message."""
        if self.reader_is_new:
            return writer_side, reader_side
        return reader_side, writer_side

    def _problem(self, path: str, why: str) -> None:
        where = f"field '{path}'" if path[:1].isalpha() or path[:1] == "_" else "the schema"
        self.problems.append(f"{where}: {why} ({self.label})")


def _same_name(reader: dict[str, Any], writer: dict[str, Any]) -> bool:
    """Named types match by unqualified name, or by a reader alias naming the writer."""
    writer_short = str(writer["name"]).rsplit(".", 1)[-1]
    reader_names = [reader["name"], *reader.get("aliases", ())]
    return writer_short in {str(n).rsplit(".", 1)[-1] for n in reader_names}


def _logical_type(node: dict[str, Any] | str) -> str | None:
    logical = node.get("logicalType") if isinstance(node, dict) else None
    return logical if logical in LOGICAL_TYPES else None
