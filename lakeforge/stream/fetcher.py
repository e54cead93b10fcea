"""Cut a topic's messages into micro-batches, from explicit per-partition positions."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pyarrow as pa

from lakeforge.bus.base import RECORD_SCHEMA, Bus

log = logging.getLogger(__name__)

#: Columns of a micro-batch of messages: a fetched batch plus its partition.
MESSAGES_SCHEMA = pa.schema([pa.field("partition", pa.int32(), nullable=False), *RECORD_SCHEMA])


@dataclass(frozen=True)
class MicroBatch:
    """Messages from several partitions and where each partition stands after them."""

    messages: pa.Table
    positions: dict[int, int]
    #: True when every partition was read to its end when the batch was cut.
    drained: bool


class Fetcher:
    """Reads one topic from explicit positions, cutting batches by size or time.

    A batch is cut when it holds ``batch_rows`` messages, when ``batch_interval_ms``
    has passed since its first message arrived, or when every partition is read to
    its end (so a quiet topic still commits promptly).
    """

    def __init__(
        self,
        bus: Bus,
        topic: str,
        positions: Mapping[int, int],
        batch_rows: int,
        batch_interval_ms: int,
        poll_ms: int = 20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bus = bus
        self.topic = topic
        self.batch_rows = batch_rows
        self.batch_interval_s = batch_interval_ms / 1000
        self.poll_s = poll_ms / 1000
        self.clock = clock
        starts = bus.start_offsets(topic)
        # A partition the table has never seen starts at the first message still held.
        self.positions = {p: max(positions.get(p, start), start) for p, start in starts.items()}

    def own(self, partitions: frozenset[int], stored: Mapping[int, int]) -> None:
        """Fetch only ``partitions`` from now on (a runner sharing the topic's partitions).

        A partition kept goes on from where this fetcher stands: its batches up to there
        are this runner's and will be committed by it. A partition gained starts at the
        position ``stored`` in the table, where its last owner's commits stopped.
        """
        starts = self.bus.start_offsets(self.topic)
        self.positions = {
            p: self.positions[p] if p in self.positions else max(stored.get(p, 0), starts[p])
            for p in sorted(partitions)
            if p in starts
        }

    def next_batch(self, should_stop: Callable[[], bool], cut_when_drained: bool) -> MicroBatch:
        """Fetch the next micro-batch.

        Returns an empty batch when nothing is waiting (after one poll interval), so
        the caller can check for a stop. With ``cut_when_drained`` a batch is cut as
        soon as every partition is read to its end (catching up, ``--until-drained``);
        otherwise it waits for more until the batch interval has passed.
        """
        pieces: list[pa.Table] = []
        rows = 0
        first_at: float | None = None
        while True:
            drained = self._fetch_round(pieces, self.batch_rows - rows)
            rows = sum(piece.num_rows for piece in pieces)
            if rows and first_at is None:
                first_at = self.clock()
            if rows >= self.batch_rows or should_stop():
                break
            if drained and (not rows or cut_when_drained):
                if not rows:
                    time.sleep(self.poll_s)
                break
            if first_at is not None and self.clock() - first_at >= self.batch_interval_s:
                break
            if drained:
                time.sleep(self.poll_s)
        messages = pa.concat_tables(pieces) if pieces else MESSAGES_SCHEMA.empty_table()
        return MicroBatch(messages, dict(self.positions), drained)

    def _fetch_round(self, pieces: list[pa.Table], room: int) -> bool:
        """Fetch once from every partition, sharing ``room``; True if all are at their end."""
        drained = True
        share = max(1, room // max(1, len(self.positions)))
        for partition, offset in sorted(self.positions.items()):
            want = min(share, room)
            if want <= 0:
                return False
            fetched = self.bus.fetch(self.topic, partition, offset, want)
            self.positions[partition] = fetched.next_offset
            if fetched.count and (first := int(fetched.records["offset"][0].as_py())) > offset:
                log.warning(
                    "%s[%d]: messages %d..%d were deleted by retention before they were "
                    "processed; raise the topic's retention if the runner falls this far behind",
                    self.topic,
                    partition,
                    offset,
                    first - 1,
                )
            if fetched.count:
                pieces.append(_with_partition(fetched.records, partition))
                room -= fetched.count
            if fetched.count >= want:
                drained = False
        return drained


def _with_partition(records: pa.Table, partition: int) -> pa.Table:
    column = pa.array([partition] * records.num_rows, pa.int32())
    return pa.Table.from_arrays(
        [column, *records.select(RECORD_SCHEMA.names).columns],
        schema=MESSAGES_SCHEMA,
    )
