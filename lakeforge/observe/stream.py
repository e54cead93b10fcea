"""What the stream runner reports: metrics per micro-batch, and facts kept with its commits.

Everything here runs once per batch, never per record. Two facts go into the commits
themselves, so that ``lakeforge status`` reads them from table metadata even when no
runner is running: the dead letters per kind (in the dead-letter table) and the recent
rate of rows to bronze (in the bronze table).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import deque

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakeforge.lake import LakeTable
from lakeforge.lake.base import CommitResult
from lakeforge.lake.batch import drop_stored_rows
from lakeforge.observe.metrics import BRONZE, DEAD_LETTERS, FETCHED, Metrics

#: Dead-letter commit property: every dead letter the table holds, counted per kind.
DEAD_LETTER_KINDS = "lakeforge.dead_letters_by_kind"
#: Bronze commit property: rows per second to bronze over the runner's last minute (or
#: since it started, if that is less).
ROWS_PER_SECOND = "lakeforge.rows_per_second"
#: How far back the recorded rate looks.
RATE_WINDOW_S = 60.0
#: How many of a batch's freshness samples go into the freshness histogram.
HISTOGRAM_SAMPLES = 100


def count_kinds(letters: pa.Table) -> dict[str, int]:
    """Dead letters per ``error_kind``."""
    if letters.num_rows == 0:
        return {}
    counted = pc.value_counts(letters["error_kind"])
    return {
        str(kind): int(n)
        for kind, n in zip(
            counted.field("values").to_pylist(), counted.field("counts").to_pylist(), strict=True
        )
    }


def parse_kinds(text: str | None) -> dict[str, int] | None:
    """The per-kind counts stored in a commit property; None if absent or malformed."""
    if text is None:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or not all(isinstance(n, int) for n in data.values()):
        return None
    return {str(kind): int(n) for kind, n in data.items()}


class BronzeFreshness:
    """The bronze freshness gauge of a runner: its stalest table's last commit."""

    def __init__(self, metrics: Metrics, pipeline: str) -> None:
        self._gauge = metrics.freshness.labels(pipeline, BRONZE)
        self._histogram = metrics.record_freshness.labels(pipeline, BRONZE)
        self._latest: dict[str, float] = {}

    def update(self, table: str, sample: np.ndarray) -> None:
        """Take the freshness sample (seconds per record) of a batch just committed."""
        if sample.size == 0:
            return
        self._latest[table] = float(sample.max())
        self._gauge.set(max(self._latest.values()))
        step = max(1, sample.size // HISTOGRAM_SAMPLES)
        for seconds in sample[::step].tolist():
            self._histogram.observe(seconds)


class BronzeObserver:
    """Metrics, lag and commit properties of one bronze stream (topic -> table)."""

    def __init__(
        self,
        metrics: Metrics,
        pipeline: str,
        topic: str,
        bronze: LakeTable,
        dead_letters: LakeTable,
        freshness: BronzeFreshness,
    ) -> None:
        self.metrics, self.pipeline, self.topic, self.table = metrics, pipeline, topic, bronze.name
        self.freshness = freshness
        # Every series this stream updates exists from the start, at zero.
        self._fetched = metrics.records.labels(pipeline, FETCHED)
        self._fetched_bytes = metrics.bytes.labels(pipeline, FETCHED)
        self._bronze = metrics.records.labels(pipeline, BRONZE)
        self._dead = metrics.records.labels(pipeline, DEAD_LETTERS)
        self._batch_rows = metrics.batch_rows.labels(pipeline, FETCHED)
        self._commit = metrics.commit_duration.labels(pipeline, self.table)
        self._last_commit = metrics.last_commit.labels(pipeline, self.table)
        self._dead_positions = dead_letters.positions()
        self._kinds = self._stored_kinds(dead_letters)
        self._added: dict[str, int] = {}
        self._rows = 0
        # (monotonic time, rows committed by then): the span the recorded rate covers.
        self._window: deque[tuple[float, int]] = deque([(time.monotonic(), 0)])

    @staticmethod
    def _stored_kinds(table: LakeTable) -> dict[str, int]:
        stats = table.stats()
        stored = parse_kinds(stats.last_properties.get(DEAD_LETTER_KINDS))
        if stored is not None or stats.rows == 0:
            return stored or {}
        # A table from before kinds were recorded: count once, record from now on.
        return count_kinds(table.read("delta"))

    def fetched(self, messages: pa.Table, positions: dict[int, int], ends: dict[int, int]) -> None:
        """Count a fetched batch and set the lag it leaves behind (``ends``: log ends)."""
        self._fetched.inc(messages.num_rows)
        self._batch_rows.observe(messages.num_rows)
        size = pc.sum(pc.binary_length(messages["value"])).as_py()
        self._fetched_bytes.inc(size or 0)
        self.lag(positions, ends)

    def lag(self, positions: dict[int, int], ends: dict[int, int]) -> None:
        """Set each partition's lag: log end minus the position reached.

        A partition missing from ``positions`` is another runner's (scale-out): its
        series is dropped here, as that runner reports it.
        """
        for partition, end in ends.items():
            labels = (self.pipeline, self.topic, str(partition))
            if partition not in positions:
                with contextlib.suppress(KeyError):
                    self.metrics.lag.remove(*labels)
                continue
            self.metrics.lag.labels(*labels).set(max(0, end - positions[partition]))

    def dead_letter_properties(self, letters: pa.Table) -> dict[str, str]:
        """The properties to commit ``letters`` with: the kind counts after it."""
        # Only letters the table lacks count: after a crash the batch is read again and
        # the table drops what it already holds, in exactly the same way.
        self._added = count_kinds(drop_stored_rows(letters, self._dead_positions))
        totals = dict(self._kinds)
        for kind, n in self._added.items():
            totals[kind] = totals.get(kind, 0) + n
        return {DEAD_LETTER_KINDS: json.dumps(totals, sort_keys=True)}

    def bronze_properties(self, rows: int) -> dict[str, str]:
        """The rate property of a bronze commit of ``rows``, the rows it brings counted."""
        now = time.monotonic()
        while len(self._window) > 1 and self._window[1][0] <= now - RATE_WINDOW_S:
            self._window.popleft()
        since, before = self._window[0]
        # Nothing was committed between the oldest point and the window's start (else a
        # later point would be older than the start): an idle spell counts only in part.
        since = max(since, now - RATE_WINDOW_S)
        if now <= since:
            return {}
        return {ROWS_PER_SECOND: f"{(self._rows + rows - before) / (now - since):.1f}"}

    def committed(
        self,
        bronze: CommitResult | None,
        dead: CommitResult | None,
        seconds: float,
        freshness: np.ndarray,
    ) -> None:
        """Count a committed batch: what each table stored and how long it took."""
        stored = bronze.rows if bronze else 0
        self._bronze.inc(stored)
        self._rows += stored
        self._window.append((time.monotonic(), self._rows))
        if dead is not None:
            self._dead.inc(dead.rows)
            self._dead_positions = dead.positions
            for kind, n in self._added.items():
                self._kinds[kind] = self._kinds.get(kind, 0) + n
                self.metrics.dead_letters.labels(self.pipeline, self.table, kind).inc(n)
        self._added = {}
        self._commit.observe(seconds)
        self._last_commit.set(time.time())
        self.freshness.update(self.table, freshness)
