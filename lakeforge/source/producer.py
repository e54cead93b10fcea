"""The producer: generate records, encode them as framed Avro, append them to the bus.

Every step works on whole batches: the generator makes Arrow columns, the encoder
turns them into Avro bodies column by column, and the bus appends one batch per
partition. Pacing to ``rate`` happens between batches. Metrics
(:mod:`lakeforge.observe`) count each batch once it is appended.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from lakeforge.bus.base import Bus
from lakeforge.bus.produce import produce
from lakeforge.codec import AvroSchema, Decoder, confluent_header, encode
from lakeforge.errors import ConfigError
from lakeforge.observe.metrics import PRODUCED, Metrics, process_metrics
from lakeforge.registry.base import SchemaRegistry, value_subject
from lakeforge.source.base import Generator, load_generator
from lakeforge.spec.model import Pipeline

if TYPE_CHECKING:
    # a type only: importing profiles imports the lake (pyiceberg, SQLAlchemy), which
    # the producer never uses
    from lakeforge.profiles.base import Profile

#: Largest batch the producer generates at once; bigger gains nothing.
MAX_CHUNK = 100_000
#: How far back from each partition's end to look for the last record id.
RESUME_WINDOW = 1_000


@dataclass
class ProducerStats:
    """What a producer has done since it started."""

    records: int = 0
    batches: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def seconds(self) -> float:
        """Seconds since start."""
        return time.monotonic() - self.started


def register_schema(registry: SchemaRegistry, topic: str, schema: AvroSchema) -> int:
    """Register ``schema`` for the topic's values and return its global id."""
    return registry.register(value_subject(topic), schema.text).schema_id


def last_record_id(bus: Bus, topic: str, decoder: Decoder, column: str) -> int | None:
    """The highest record id among the newest messages of every partition.

    Undecodable messages (published raw bytes) are skipped; only the newest
    ``RESUME_WINDOW`` messages per partition are read, so resuming stays cheap.
    """
    highest: int | None = None
    ends = bus.end_offsets(topic)
    starts = bus.start_offsets(topic)
    for partition, end in ends.items():
        offset = max(starts.get(partition, 0), end - RESUME_WINDOW)
        while offset < end:
            fetched = bus.fetch(topic, partition, offset, end - offset)
            if not fetched.count:
                break
            offset = fetched.next_offset
            decoded = decoder.decode(fetched.records["value"])
            if decoded.table.num_rows and column in decoded.table.column_names:
                value = pc.max(decoded.table[column]).as_py()
                if value is not None:
                    highest = value if highest is None else max(highest, int(value))
    return highest


def _key_bytes(column: pa.Array) -> pa.Array:
    """The message key of each value: its text as UTF-8 bytes."""
    return column.cast(pa.string()).cast(pa.binary())


class Producer:
    """Feeds one topic from the pipeline's synthetic source."""

    def __init__(
        self, pipeline: Pipeline, profile: Profile, metrics: Metrics | None = None
    ) -> None:
        if pipeline.source is None:
            raise ConfigError(
                f"pipeline {pipeline.name!r} has no 'source' section",
                "add a source (see examples/stocks/pipeline.yaml) or publish messages with "
                "'lakeforge publish'",
            )
        self.source = pipeline.source
        self.topic = pipeline.topic(self.source.topic)
        self.bus = profile.bus
        self.schema = AvroSchema.load(pipeline.schema_path(self.topic))
        self.schema_id = register_schema(profile.registry, self.topic.name, self.schema)
        self.header = confluent_header(self.schema_id)
        generator_class = load_generator(self.source.generator)
        first_id = 1
        if generator_class.id_column:
            decoder = Decoder(self.schema, profile.registry.schema_by_id)
            last = last_record_id(self.bus, self.topic.name, decoder, generator_class.id_column)
            first_id = 1 if last is None else last + 1
        self.generator: Generator = generator_class(  # type: ignore[call-arg]
            seed=self.source.seed, symbols=self.source.symbols, first_id=first_id
        )
        self.first_id = first_id
        self.stats = ProducerStats()
        metrics = metrics or process_metrics()
        self._produced = metrics.records.labels(pipeline.name, PRODUCED)
        self._produced_bytes = metrics.bytes.labels(pipeline.name, PRODUCED)
        self._batch_rows = metrics.batch_rows.labels(pipeline.name, PRODUCED)

    def _appended(self, values: pa.BinaryArray, appending: Future[object]) -> None:
        """Count a batch once it is on the log (an append that failed counts nothing)."""
        if appending.cancelled() or appending.exception() is not None:
            return
        self._produced.inc(len(values))
        self._batch_rows.observe(len(values))
        self._produced_bytes.inc(pc.sum(pc.binary_length(values)).as_py() or 0)

    def _keys(self, batch: pa.Table) -> pa.Array | None:
        if self.topic.key is None:
            return None
        column = batch[self.topic.key].combine_chunks()
        if isinstance(column, pa.DictionaryArray):
            # Keys stay a dictionary: produce() hashes each distinct key once.
            return pa.DictionaryArray.from_arrays(column.indices, _key_bytes(column.dictionary))
        return _key_bytes(column)

    def run(
        self,
        count: int | None = None,
        rate: float | None = None,
        stop: threading.Event | None = None,
        on_batch: Callable[[ProducerStats], None] | None = None,
    ) -> ProducerStats:
        """Produce ``count`` records (forever if None) at ``rate`` per second (0: flat out)."""
        rate = self.source.rate if rate is None else rate
        stop = stop or threading.Event()
        chunk = MAX_CHUNK if rate <= 0 else int(min(MAX_CHUNK, max(1, rate / 20)))
        if count is not None:
            chunk = min(chunk, count)
        started = time.monotonic()
        last_us = time.time_ns() // 1000
        planned = 0

        def generate(rows: int) -> pa.Table:
            # Each batch's event times cover the time since the previous batch.
            nonlocal last_us
            now_us = max(time.time_ns() // 1000, last_us + 1)
            batch = self.generator.next_batch(rows, last_us, now_us)
            last_us = now_us
            return batch

        # Three stages overlap, each on whole batches: a thread generates the next batch
        # while this one encodes the current one and another thread appends the last
        # one (numpy, Arrow and SQLite release the GIL for most of it). One batch at a
        # time per stage keeps the record ids and every partition in order.
        with (
            ThreadPoolExecutor(1, thread_name_prefix="generate") as generator,
            ThreadPoolExecutor(1, thread_name_prefix="append") as appender,
        ):

            def generate_next() -> Future[pa.Table] | None:
                nonlocal planned
                rows = chunk if count is None else min(chunk, count - planned)
                if rows <= 0:
                    return None
                planned += rows
                return generator.submit(generate, rows)

            appending: Future[object] | None = None
            next_batch = generate_next()
            while next_batch is not None and not stop.is_set():
                batch = next_batch.result()
                if rate <= 0:
                    next_batch = generate_next()  # flat out: generate ahead
                values = encode(batch, self.schema, prefix=self.header)
                keys = self._keys(batch)
                if appending is not None:
                    appending.result()
                appending = appender.submit(
                    produce, self.bus, self.topic.name, values, keys, self.topic.partitions
                )
                appending.add_done_callback(partial(self._appended, values))
                self.stats.records += batch.num_rows
                self.stats.batches += 1
                if on_batch:
                    on_batch(self.stats)
                if rate > 0:
                    ahead = started + self.stats.records / rate - time.monotonic()
                    if ahead > 0:
                        stop.wait(ahead)
                    # Paced: generate only now, so event times stay close to the append.
                    next_batch = generate_next()
            if appending is not None:
                appending.result()
        return self.stats
