"""A topic's schema file, read again while the runner runs, so new fields need no restart.

A runner reads messages with the schema file it loaded. When producers move to a newer
schema (registered in the registry) with fields that file lacks, Avro resolution drops
those fields' values. So when a batch holds such messages, the runner reads the file
again. If the user added the fields (as the docs say to) and the file passes what
``lakeforge check`` asks of it, the stream adopts it between two batches
(:meth:`~lakeforge.stream.runner.BronzeStream.adopt`): bronze gains the new nullable
columns in both formats. Otherwise the runner goes on with the schema it has, and says
so: a WARNING once per writer schema id whose fields are dropped, an ERROR once per
content of the file that cannot be taken.

The file is read only for batches with such messages, and parsed and checked only when
its text changed, so a runner that keeps dropping fields costs one small read a batch.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

import pyarrow as pa

from lakeforge.codec import AvroSchema, Decoder
from lakeforge.errors import ConfigError, SchemaError
from lakeforge.registry.base import SchemaRegistry
from lakeforge.spec.model import Bronze, Pipeline
from lakeforge.stream.compatibility import registry_problems, table_problem
from lakeforge.stream.rules import RuleSet

log = logging.getLogger(__name__)

#: What ``lakeforge check`` would advise, for a file that cannot be taken.
_ADVICE = (
    "keep the schema compatible (add fields only as optional, with a default); "
    "`lakeforge check` names the same problems"
)


@dataclass(frozen=True)
class SchemaChange:
    """The schema file as read again: checked, and reading fields the running one drops."""

    schema: AvroSchema
    #: A decoder for the new schema (writer schemas looked up once more, on first use).
    decoder: Decoder
    #: The writers' fields that the new schema reads and the running one dropped.
    fields: tuple[str, ...]


@dataclass
class _Reading:
    """One content of the file: parsed, and what keeps the runner from taking it."""

    text: str
    schema: AvroSchema | None
    decoder: Decoder | None
    problems: list[str] = field(default_factory=list)
    #: True once its problems were logged.
    told: bool = False


class SchemaFile:
    """The schema file of one bronze stream's topic, read again when messages outgrow it.

    :meth:`look` runs where the stream's batches are prepared; :meth:`refused` and
    :meth:`adopted` run where they are committed, while no batch of the stream is being
    prepared: the two never overlap.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        spec: Bronze,
        registry: SchemaRegistry,
        running: AvroSchema,
    ) -> None:
        self.pipeline = pipeline
        self.spec = spec
        self.topic = pipeline.topic(spec.topic)
        self.path = pipeline.schema_path(self.topic)
        #: The file as pipeline.yaml names it ("schemas/trade.avsc"), for messages.
        self.shown = self.topic.schema_file
        self.registry = registry
        self._reading = _Reading(running.text, running, None)
        self._warned: set[tuple[int, tuple[str, ...]]] = set()

    def look(
        self,
        unread: Mapping[int, tuple[str, ...]],
        decoder: Decoder,
        stored: pa.Schema,
    ) -> SchemaChange | None:
        """What to do about a batch's writers with fields ``decoder``'s reader lacks.

        ``unread`` maps those writer schema ids to their fields; ``stored`` is the
        bronze table's columns. Returns the file, read again, when it reads some of those
        fields and can be taken; otherwise None, after saying (once) why their values
        are not kept. A registry that cannot be reached raises
        :class:`~lakeforge.errors.TransientError`, to be retried like a fetch.
        """
        change = self._change(self._read(decoder, stored), unread, decoder)
        if change is None:
            self._warn(unread)
        return change

    def refused(self, change: SchemaChange, problem: str) -> None:
        """The bronze table refused ``change`` when the stream tried to take it.

        Says why, and never offers that content of the file again (``change`` is what
        :meth:`look` read last).
        """
        assert self._reading.schema is change.schema
        self._reading.problems.append(problem)
        self._tell(self._reading, {})

    def adopted(self, change: SchemaChange, gained: list[str]) -> None:
        """Say that the stream now reads with ``change``'s schema; bronze ``gained`` columns."""
        if not gained:
            table = "bronze already has the columns"
        elif list(change.fields) == gained:
            table = f"bronze gains the {'column' if len(gained) == 1 else 'columns'}"
        else:
            table = f"bronze gains {_named('column', gained)}"
        log.info(
            "bronze %s: %s now has %s; %s", self.spec.table, self.shown,
            _named("field", change.fields), table,
        )  # fmt: skip

    def _change(
        self, reading: _Reading, unread: Mapping[int, tuple[str, ...]], decoder: Decoder
    ) -> SchemaChange | None:
        """The file's ``reading`` as a change to take, if it reads fields of ``unread``."""
        if reading.schema is not None and reading.schema.record == decoder.reader.record:
            return None  # the file says what the runner reads already
        if reading.decoder is not None and not reading.problems:
            reading.problems = _unreadable(reading.decoder, decoder)
        if reading.problems or reading.schema is None or reading.decoder is None:
            self._tell(reading, unread)
            return None
        fields = _newly_read(unread, reading.decoder)
        return SchemaChange(reading.schema, reading.decoder, fields) if fields else None

    def _read(self, decoder: Decoder, stored: pa.Schema) -> _Reading:
        """The file's content now: parsed and checked only when it changed."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError as error:
            text = f"<unreadable: {error.strerror}>"
            if text != self._reading.text:
                problem = f"cannot read {self.path}: {error.strerror}"
                self._reading = _Reading(text, None, None, [problem])
            return self._reading
        if text == self._reading.text:
            return self._reading
        try:
            schema = AvroSchema.parse(text, source=str(self.path))
        except SchemaError as error:
            self._reading = _Reading(text, None, None, [error.what])
            return self._reading
        probe = Decoder(schema, self.registry.schema_by_id, decoder.max_message_bytes)
        problems = self._problems(schema, stored)  # before taking the text: may raise
        self._reading = _Reading(text, schema, probe, problems)
        return self._reading

    def _problems(self, schema: AvroSchema, stored: pa.Schema) -> list[str]:
        """What ``lakeforge check`` would say of ``schema``: registry, table and rules."""
        problems = registry_problems(self.pipeline, {self.topic.name: schema}, self.registry)
        if (problem := table_problem(self.spec, stored, schema)) is not None:
            problems.append(problem)
        try:
            RuleSet(
                self.spec.rules, schema.arrow_schema, where=f"bronze[{self.spec.table}].rules"
            ).close()
        except ConfigError as error:
            problems.append(error.what)
        return problems

    def _tell(self, reading: _Reading, unread: Mapping[int, tuple[str, ...]]) -> None:
        """Log, once per content of the file, why the runner does not take it."""
        if reading.told:
            return
        reading.told = True
        dropped = "".join(
            f"; the values of writer schema id {schema_id}'s {_named('field', fields)} are "
            "not kept in bronze"
            for schema_id, fields in sorted(unread.items())
        )
        log.error(
            "bronze %s: %s changed while running, but the runner cannot take it: %s. It "
            "goes on reading with the schema it has%s; %s",
            self.spec.table, self.shown, "; ".join(reading.problems), dropped, _ADVICE,
        )  # fmt: skip
        for schema_id, fields in unread.items():
            self._warned.add((schema_id, fields))  # just said

    def _warn(self, unread: Mapping[int, tuple[str, ...]]) -> None:
        """Say, once per writer schema id, which fields are dropped and what to do."""
        for schema_id, fields in sorted(unread.items()):
            if (schema_id, fields) in self._warned:
                continue
            self._warned.add((schema_id, fields))
            log.warning(
                "bronze %s: messages of writer schema id %d have %s, which %s lacks: their "
                "values are not kept in bronze until %s has %s (optional, with a default); "
                "the runner then takes the file without a restart",
                self.spec.table, schema_id, _named("field", fields), self.shown, self.shown,
                "it" if len(fields) == 1 else "them",
            )  # fmt: skip


def _unreadable(new: Decoder, running: Decoder) -> list[str]:
    """The writers ``running`` reads that ``new`` could not: their messages would fail."""
    problems = []
    for schema_id in running.writer_ids:
        if (why := new.failure(schema_id)) is not None:
            problems.append(why)
    return problems


def _newly_read(unread: Mapping[int, tuple[str, ...]], new: Decoder) -> tuple[str, ...]:
    """The fields of ``unread`` that ``new`` reads."""
    found = {
        name
        for schema_id, fields in unread.items()
        for name in fields
        if name not in new.unread_fields(schema_id)
    }
    return tuple(sorted(found))


def _named(word: str, names: tuple[str, ...] | list[str]) -> str:
    """Names after a word, plural if need be: 'field venue', 'fields venue, tape'."""
    return f"{word}{'s' if len(names) > 1 else ''} {', '.join(names)}"
