"""The stream runner: log -> decode -> rules -> bronze and dead letters, exactly once.

Exactly once rests on the tables, not on the bus: every commit stores the positions
it consumed (partition -> next offset) together with its rows, and on start the
runner resumes from what the bronze table holds. A table also drops any row below
its stored positions, so a batch re-read after a crash is never written twice.

Dead letters are committed before bronze. The runner resumes from bronze's
positions, so a crash between the two commits re-reads the batch: the dead-letter
table already holds its rows and drops them, bronze gets its rows once.

Several runners may share the topics' partitions (the cluster profile's consumer
group, :mod:`lakeforge.bus.group`). Each fetches only the partitions it owns, and
commits as a *shared* writer: when a partition moved away mid-batch, the table keeps
the furthest position and drops the rows another runner already stored.

A schema file updated while the runner runs is taken between two batches, when
messages carry fields it now has (:mod:`lakeforge.stream.schema_file`): the batch that
met them is dropped, uncommitted, and read again with the new schema.

Metrics (:mod:`lakeforge.observe`) are updated once per batch, never per record.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from lakeforge.bus.group import PartitionGroup
from lakeforge.codec import AvroSchema, Decoder
from lakeforge.errors import ConfigError, SchemaError, TransientError
from lakeforge.lake import LakeTable
from lakeforge.observe.metrics import Metrics, process_metrics
from lakeforge.observe.stream import BronzeFreshness, BronzeObserver
from lakeforge.profiles.base import Profile
from lakeforge.spec.model import Bronze, Pipeline
from lakeforge.stream.dead_letters import (
    DEAD_LETTER_DAY_COLUMN,
    DEAD_LETTER_SCHEMA,
    bronze_table_name,
    dead_letter_table_name,
)
from lakeforge.stream.fetcher import Fetcher, MicroBatch
from lakeforge.stream.ingest import (
    BRONZE_DAY_COLUMN,
    Sorted,
    bronze_schema,
    max_event_time_us,
    sort_batch,
)
from lakeforge.stream.rules import RuleSet
from lakeforge.stream.schema_file import SchemaChange, SchemaFile

#: How often the runner asks the bus to delete messages past their retention.
RETENTION_EVERY_S = 60.0
#: How many rows of each batch are sampled to measure freshness.
FRESHNESS_SAMPLE = 1_000
#: Commit property: the newest event time bronze holds, in microseconds.
NEWEST_EVENT = "lakeforge.max_event_time_us"
#: How long a runner waits to join its group of runners before it gives up.
JOIN_TIMEOUT_S = 60.0
#: While the bus is unreachable the runner retries, waiting longer each time up to this.
RETRY_MAX_S = 10.0

log = logging.getLogger(__name__)


def release_freed_memory_promptly() -> bool:
    """Have Arrow's jemalloc pool return freed pages at once; False under other pools.

    A runner frees a whole micro-batch at a time. Arrow has jemalloc keep freed pages
    for a second (its decay setting), long enough to overlap the next batches: on a
    12M-trade catch-up the runner's peak fell from 449-451 to 417-422 MB, for about
    0.06 µs more system CPU per trade (docs/benchmarks.md). jemalloc applies this to
    the arenas it creates from now on, which the runner's threads get: call it before
    they start. Process-wide, and harmless to call again. A decay the user set in
    ``JE_ARROW_MALLOC_CONF`` (jemalloc reads it when pyarrow loads) wins.
    """
    if pa.default_memory_pool().backend_name != "jemalloc":
        return False
    if "decay_ms" in os.environ.get("JE_ARROW_MALLOC_CONF", ""):
        return False
    pa.jemalloc_set_decay_ms(0)
    return True


@dataclass(frozen=True)
class BatchReport:
    """One committed micro-batch."""

    table: str
    messages: int
    bronze_rows: int
    dead_letters: int
    #: Seconds from reading the batch to both formats committed.
    commit_seconds: float
    #: Event time to readable in bronze, in seconds, for a sample of the batch's rows.
    freshness_sample: np.ndarray


@dataclass
class RunnerStats:
    """What a runner has done since it started."""

    batches: int = 0
    messages: int = 0
    bronze_rows: int = 0
    dead_letters: int = 0
    started: float = field(default_factory=time.monotonic)
    last_batch: BatchReport | None = None

    @property
    def seconds(self) -> float:
        """Seconds since start."""
        return time.monotonic() - self.started


@dataclass(frozen=True)
class Prepared:
    """A micro-batch fetched, decoded and sorted, waiting for its commit."""

    batch: MicroBatch
    #: None when the batch holds no message.
    result: Sorted | None
    properties: dict[str, str]
    began: float
    #: The schema file, read again, to take before reading the batch again (it was
    #: decoded with the old schema and must not be committed).
    change: SchemaChange | None = None


class BronzeStream:
    """One topic flowing into one bronze table and its dead letters."""

    def __init__(
        self,
        pipeline: Pipeline,
        spec: Bronze,
        profile: Profile,
        group: PartitionGroup | None = None,
    ) -> None:
        self.spec = spec
        #: The runners sharing the topic's partitions; ``None``: this one owns them all.
        self.group = group
        self._generation = -1
        self.topic = pipeline.topic(spec.topic)
        self.schema = AvroSchema.load(pipeline.schema_path(self.topic))
        self.decoder = Decoder(
            self.schema,
            profile.registry.schema_by_id,
            max_message_bytes=pipeline.stream.max_message_bytes,
        )
        self.rules = RuleSet(spec.rules, self.schema.arrow_schema, where=f"bronze {spec.table}")
        self.table_schema = bronze_schema(self.schema.arrow_schema)
        self.warehouse = profile.warehouse
        self.schema_file = SchemaFile(pipeline, spec, profile.registry, self.schema)
        self.bronze: LakeTable = profile.warehouse.table(
            bronze_table_name(spec.table), self.table_schema, BRONZE_DAY_COLUMN
        )
        self.dead_letters: LakeTable = profile.warehouse.table(
            dead_letter_table_name(spec.table), DEAD_LETTER_SCHEMA, DEAD_LETTER_DAY_COLUMN
        )
        self.bus = profile.bus
        self.fetcher = Fetcher(
            profile.bus,
            self.topic.name,
            self.bronze.positions(),
            pipeline.stream.batch_rows,
            pipeline.stream.batch_interval,
        )
        self._follow_group()
        #: Set by :meth:`observe`; a stream only read from (verify) reports nothing.
        self.observer: BronzeObserver | None = None
        newest = self.bronze.stats().last_properties.get(NEWEST_EVENT)
        self.newest_event_us = int(newest) if newest and newest.isdigit() else None

    def observe(self, metrics: Metrics, pipeline: str, freshness: BronzeFreshness) -> None:
        """Report this stream's batches to ``metrics`` from now on."""
        self.observer = BronzeObserver(
            metrics, pipeline, self.topic.name, self.bronze, self.dead_letters, freshness
        )
        self.observer.lag(self.fetcher.positions, self.bus.end_offsets(self.topic.name))

    def prepare(self, should_stop: Callable[[], bool], catch_up: bool) -> Prepared:
        """Fetch, decode and sort the next micro-batch; commit nothing.

        When it fails (the bus became unreachable halfway), the fetcher goes back to
        where the batch began, so that a retry reads the same messages again.
        """
        self._follow_group()
        began_at = dict(self.fetcher.positions)
        try:
            prepared = self._prepare(should_stop, catch_up)
        except BaseException:
            self.fetcher.positions = began_at
            raise
        if prepared.change is not None:
            self.fetcher.positions = began_at  # read again with the new schema
        return prepared

    def _prepare(self, should_stop: Callable[[], bool], catch_up: bool) -> Prepared:
        batch = self.fetcher.next_batch(should_stop, cut_when_drained=catch_up)
        began = time.monotonic()
        if not batch.messages.num_rows:
            return Prepared(batch, None, {}, began)
        if self.observer is not None:
            # Here, not at commit: asking the bus for its ends may be a network round trip.
            ends = self.bus.end_offsets(self.topic.name)
            self.observer.fetched(batch.messages, batch.positions, ends)
        decoded = self.decoder.decode(batch.messages["value"])
        if decoded.unread_fields:
            # Messages of a newer schema, with fields the reader drops: has the file them?
            change = self.schema_file.look(decoded.unread_fields, self.decoder, self.bronze.schema)
            if change is not None:
                return Prepared(batch, None, {}, began, change)
        result = sort_batch(
            self.topic.name,
            batch.messages,
            decoded,
            self.rules,
            self.table_schema,
            time.time_ns() // 1000,
        )
        properties = {
            "lakeforge.messages": str(batch.messages.num_rows),
            "lakeforge.dead_letters": str(result.dead_letters.num_rows),
        }
        latest = max_event_time_us(result.bronze, self.topic.event_time)
        # Carried over a batch of dead letters only, so that status still knows it.
        if latest is not None and (self.newest_event_us is None or latest > self.newest_event_us):
            self.newest_event_us = latest
        if self.newest_event_us is not None:
            properties[NEWEST_EVENT] = str(self.newest_event_us)
        return Prepared(batch, result, properties, began)

    def adopt(self, change: SchemaChange) -> None:
        """Read with the schema of ``change`` from now on; bronze gains its new columns.

        Call it between batches, with no batch of this stream being prepared: the table
        changes in both formats, and decoder, rules and table handle are replaced. If the
        table refuses the schema (another runner changed it meanwhile), the stream goes
        on with the schema it has, and says why.
        """
        table_schema = bronze_schema(change.schema.arrow_schema)
        where = f"bronze {self.spec.table}"
        try:
            rules = RuleSet(self.spec.rules, change.schema.arrow_schema, where=where)
        except ConfigError as error:  # checked when the file was read: not expected
            self.schema_file.refused(change, error.what)
            return
        try:
            bronze = self.warehouse.table(self.bronze.name, table_schema, BRONZE_DAY_COLUMN)
        except SchemaError as error:
            rules.close()
            self.schema_file.refused(change, error.what)
            return
        gained = [name for name in bronze.schema.names if name not in self.bronze.schema.names]
        self.rules.close()
        self.schema, self.decoder, self.rules = change.schema, change.decoder, rules
        self.table_schema, self.bronze = table_schema, bronze
        self.schema_file.adopted(change, gained)

    def commit(self, prepared: Prepared, stats: RunnerStats) -> None:
        """Commit a prepared batch: dead letters first, then bronze (see module doc)."""
        batch, result = prepared.batch, prepared.result
        if result is None:
            return
        observer = self.observer
        committing = time.monotonic()
        dead = None
        if result.dead_letters.num_rows:
            extra = observer.dead_letter_properties(result.dead_letters) if observer else {}
            dead = self.dead_letters.commit(
                result.dead_letters, batch.positions, extra, shared=self.group is not None
            )
        properties = prepared.properties
        if observer is not None:
            rate = observer.bronze_properties(result.bronze.num_rows)
            properties = {**properties, **rate}
        bronze = self.bronze.commit(
            result.bronze, batch.positions, properties, shared=self.group is not None
        )
        done = time.monotonic()
        if self.group is not None and bronze is not None:
            self.group.report_positions(self.topic.name, bronze.positions)
        freshness = self._freshness_sample(result.bronze)
        if observer is not None:
            observer.committed(bronze, dead, done - committing, freshness)
        stats.last_batch = BatchReport(
            self.bronze.name,
            batch.messages.num_rows,
            result.bronze.num_rows,
            result.dead_letters.num_rows,
            done - prepared.began,
            freshness,
        )
        stats.batches += 1
        stats.messages += batch.messages.num_rows
        stats.bronze_rows += result.bronze.num_rows
        stats.dead_letters += result.dead_letters.num_rows

    def _follow_group(self) -> None:
        """Fetch only the partitions this runner owns, after any rebalance."""
        if self.group is None:
            return
        assignment = self.group.assignment()
        if assignment is None or assignment.generation == self._generation:
            return
        self._generation = assignment.generation
        self.fetcher.own(assignment.of(self.topic.name), self.bronze.positions())

    def _freshness_sample(self, rows: pa.Table) -> np.ndarray:
        """Seconds from event time to now (just committed) for up to SAMPLE rows."""
        column = self.topic.event_time
        if column is None or rows.num_rows == 0:
            return np.empty(0)
        step = max(1, rows.num_rows // FRESHNESS_SAMPLE)
        events: np.ndarray = rows[column].cast(pa.int64()).to_numpy()[::step]
        return np.asarray((time.time_ns() // 1000 - events) / 1e6)


class StreamRunner:
    """Runs every bronze stream of a pipeline until stopped (or drained)."""

    def __init__(
        self, pipeline: Pipeline, profile: Profile, metrics: Metrics | None = None
    ) -> None:
        self.pipeline = pipeline
        self.group = self._join(pipeline, profile)
        try:
            self.streams = [
                BronzeStream(pipeline, spec, profile, self.group) for spec in pipeline.bronze
            ]
        except BaseException:
            self.close()  # leave the group at once: the others take the partitions
            raise
        self.stats = RunnerStats()
        self.bus = profile.bus
        #: Where the runner reports its batches; this process's metrics unless given.
        self.metrics = metrics or process_metrics()
        freshness = BronzeFreshness(self.metrics, pipeline.name)
        for stream in self.streams:
            stream.observe(self.metrics, pipeline.name, freshness)

    @staticmethod
    def _join(pipeline: Pipeline, profile: Profile) -> PartitionGroup | None:
        """Join the runners sharing the partitions, if the bus has such groups."""
        if profile.join_group is None:
            return None
        group = profile.join_group(sorted({spec.topic for spec in pipeline.bronze}))
        if group.wait_for_assignment(JOIN_TIMEOUT_S) is None:
            group.close()
            raise TransientError(
                f"this runner did not join the consumer group {group.name!r} within "
                f"{JOIN_TIMEOUT_S:.0f}s",
                "check that the Kafka cluster is reachable and its group coordinator is up",
            )
        return group

    def close(self) -> None:
        """Leave the group of runners, if any, so the others take over at once."""
        if self.group is not None:
            self.group.close()

    def __enter__(self) -> StreamRunner:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def run(
        self,
        stop: threading.Event | None = None,
        until_drained: bool = False,
        on_batch: Callable[[RunnerStats], None] | None = None,
    ) -> RunnerStats:
        """Process micro-batches until ``stop`` is set, or until drained if asked.

        A stop request lets the current commit finish: nothing is ever half-committed
        by a clean stop.
        """
        stop = stop or threading.Event()
        release_freed_memory_promptly()
        retention_due = time.monotonic()
        # While one batch commits, a thread per stream already fetches and decodes the
        # next one. Commits stay in order: a stream's next batch is prepared only once
        # the previous one was handed over, and only this thread commits.
        with ThreadPoolExecutor(len(self.streams), thread_name_prefix="prepare") as pool:

            def ahead(stream: BronzeStream) -> Future[Prepared]:
                return pool.submit(stream.prepare, stop.is_set, until_drained)

            pending: list[Future[Prepared] | None] = [ahead(s) for s in self.streams]
            outage = _Outage()
            while any(future is not None for future in pending):
                if time.monotonic() >= retention_due:
                    # The embedded log has no server of its own to delete old messages.
                    self.bus.enforce_retention()
                    retention_due = time.monotonic() + RETENTION_EVERY_S
                for index, stream in enumerate(self.streams):
                    future = pending[index]
                    if future is None:
                        continue
                    try:
                        prepared = future.result()
                    except TransientError as error:
                        # The bus or the registry is away (a broker restarting): nothing
                        # was committed, so nothing is lost; wait, then read the same
                        # messages again from the same positions.
                        outage.wait(error, stop)
                        pending[index] = None if stop.is_set() else ahead(stream)
                        continue
                    outage.over()
                    if prepared.change is not None:
                        # Nothing of the batch was committed and the fetcher is back where
                        # it began: take the new schema, then read the batch again.
                        stream.adopt(prepared.change)
                        pending[index] = None if stop.is_set() else ahead(stream)
                        continue
                    finished = stop.is_set() or (until_drained and prepared.batch.drained)
                    pending[index] = None if finished else ahead(stream)
                    if prepared.result is not None:
                        stream.commit(prepared, self.stats)
                        if on_batch:
                            on_batch(self.stats)
        return self.stats


class _Outage:
    """Waits out a bus (or registry) that cannot be reached, saying so, pausing longer."""

    def __init__(self) -> None:
        self.since: float | None = None
        self.pause = 0.5

    def wait(self, error: TransientError, stop: threading.Event) -> None:
        now = time.monotonic()
        if self.since is None:
            self.since = now
        log.warning(
            "%s; retrying in %.1fs (unavailable for %.0fs; Ctrl-C stops)",
            error.what,
            self.pause,
            now - self.since,
        )
        stop.wait(self.pause)
        self.pause = min(RETRY_MAX_S, self.pause * 2)

    def over(self) -> None:
        if self.since is not None:
            log.warning("reading works again after %.0fs; resuming", time.monotonic() - self.since)
        self.since, self.pause = None, 0.5
