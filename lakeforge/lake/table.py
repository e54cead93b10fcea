"""A lake table: rows stored once as Parquet, committed to Delta then Iceberg, exactly once.

There is no atomic commit across two logs, so the order is fixed: the data file is
written, Delta (the leader) commits it, then Iceberg does. A crash in between leaves
Iceberg one or more batches behind; opening the table replays them from Delta's commit
info. A crash before the Delta commit leaves an *orphan* data file that no log
references: harmless, it is never read; :meth:`LakeTable.vacuum` deletes it after the
retention period.

One data file per batch (one per day a batch spans, in a table partitioned by day,
see :mod:`lakeforge.lake.days`), until :meth:`LakeTable.compact` rewrites consecutive
small files into one, as a batch of its own that changes no position.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import random
import signal
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from deltalake import DeltaTable
from pyiceberg.manifest import DataFile
from pyiceberg.table import StaticTable
from pyiceberg.table.metadata import TableMetadata

from lakeforge.errors import ConfigError, DataIntegrityError
from lakeforge.lake.base import CommitConflictError, CommitResult, TableStats, VacuumResult
from lakeforge.lake.batch import (
    BatchRecord,
    check_positions,
    check_properties,
    check_rows_within,
    drop_stored_rows,
    merge_positions,
)
from lakeforge.lake.days import day_directory, split_by_day
from lakeforge.lake.delta_log import CHECKPOINT_INTERVAL, DeltaBatch, DeltaLog, LiveFile
from lakeforge.lake.iceberg_log import IcebergLog, summary_of
from lakeforge.lake.parquet import TableFiles, WrittenFile
from lakeforge.lake.schema import arrow_schema, conform_rows, file_schema

#: Test hook: ``parquet`` or ``delta`` makes the process SIGKILL itself right after that
#: step of a commit, as a power cut would; crash-recovery tests set it in a child process.
CRASH_ENV = "LAKEFORGE_LAKE_CRASH_AFTER"
#: A commit that meets another writer re-reads the positions and tries once more.
COMMIT_ATTEMPTS = 2
#: Runners sharing a table meet each other often: they retry longer, with jittered backoff.
SHARED_COMMIT_ATTEMPTS = 30
SHARED_BACKOFF_MAX_S = 0.5
#: Reads of a pinned metadata file a transform may be rewriting at that moment.
PIN_READ_ATTEMPTS = 5
#: The commit property that marks a compaction (its value: how many files it merged).
COMPACTION_PROPERTY = "lakeforge.compacted_files"
#: Catching Iceberg up only races other processes doing the same; a few rounds settle it.
ICEBERG_ATTEMPTS = 10


class LakeTable:
    """One lake table, readable as a standard Iceberg table and a standard Delta table.

    Obtain it from :class:`~lakeforge.lake.warehouse.Warehouse`. Opening reconciles
    the two formats, so both hold the same batches afterwards.
    """

    def __init__(self, name: str, iceberg: IcebergLog, delta: DeltaLog) -> None:
        self.name = name
        self._iceberg = iceberg
        self._delta = delta
        self._files = TableFiles(iceberg.delta_location)
        #: The table's columns, in the canonical Arrow form both formats read back.
        self.schema: pa.Schema = arrow_schema(iceberg.schema)
        self._file_schema = file_schema(self.schema, iceberg.schema)
        #: The column whose UTC day partitions the table; None when it is unpartitioned.
        self.partition_by_day = iceberg.partition_by_day
        #: What :meth:`read_batches` reads, opened on first use.
        self._reader: DeltaTable | None = None
        self._read_version = -1
        self._read_dataset: ds.Dataset | None = None
        self._reconcile()

    @property
    def delta_location(self) -> str:
        """The Delta table root (where the data files also live)."""
        return self._delta.uri

    @property
    def iceberg_metadata_location(self) -> str:
        """The current Iceberg metadata file (what DuckDB's ``iceberg_scan`` wants)."""
        self._iceberg.table.refresh()
        return str(self._iceberg.table.metadata_location)

    def positions(self) -> dict[int, int]:
        """The source positions stored by the last commit: partition -> next offset.

        Read from Delta, the leader; ``{}`` for a table never committed to. A runner
        resumes from these, never from the bus's consumer offsets.
        """
        last = self._delta.last_batch()
        return dict(last.record.positions) if last else {}

    def commit(
        self,
        rows: pa.Table | pa.RecordBatch,
        positions: Mapping[int, int],
        properties: Mapping[str, str] | None = None,
        *,
        shared: bool = False,
    ) -> CommitResult | None:
        """Store ``rows`` and the new ``positions`` in both formats, exactly once.

        Rows whose ``_offset`` is below the stored position of their ``_partition``
        are dropped first, so a batch read again never duplicates. ``positions`` update
        the stored ones (partitions not named keep theirs) and may not go backwards; every
        remaining row must lie below its partition's new position. With no rows left but
        positions advanced, the positions alone are committed. Returns ``None`` when
        there is nothing to commit.

        ``shared`` says several runners share the source's partitions and commit here:
        a position behind the stored one then means the partition moved to another
        runner (its rows are dropped, the stored position kept), and conflicts are
        retried longer, with jittered backoff.

        Raises :class:`~lakeforge.errors.SchemaError` for rows that do not fit the table,
        :class:`~lakeforge.lake.base.PositionsError` for positions that contradict the
        rows or the stored positions, and :class:`~lakeforge.lake.base.CommitConflictError`
        when other writers kept committing first (nothing is stored then; retry).
        """
        extra = check_properties(properties or {})
        new_positions = check_positions(positions)
        table = conform_rows(rows, self.schema, self._file_schema)
        attempts = SHARED_COMMIT_ATTEMPTS if shared else COMMIT_ATTEMPTS
        for attempt in range(attempts):
            try:
                return self._commit_once(table, new_positions, extra, shared)
            except _DeltaConflict:
                # Nothing was stored: the retry reads the positions the other writer
                # stored and drops the rows it already has. A conflict in the Iceberg
                # step is not retried here: Delta holds the batch by then.
                if attempt + 1 == attempts:
                    raise
                if shared:
                    _back_off(attempt)
        raise AssertionError("unreachable")

    def _commit_once(
        self,
        rows: pa.Table,
        positions: dict[int, int],
        properties: dict[str, str],
        shared: bool,
    ) -> CommitResult | None:
        last = self._delta.last_batch()
        stored = last.record.positions if last else {}
        merged = merge_positions(stored, positions, shared)
        rows = drop_stored_rows(rows, stored)
        check_rows_within(rows, merged)
        if rows.num_rows == 0 and merged == stored:
            return None
        sequence = (last.record.sequence if last else 0) + 1

        started = time.perf_counter()
        written = self._write(rows, sequence)
        data_files = self._data_files(written)
        wrote = time.perf_counter()
        _crash_point("parquet")
        record = BatchRecord(sequence, merged, tuple(f.path for f in written), properties)
        try:
            version = self._delta.commit(record, written)
        except CommitConflictError as e:
            for f in written:  # referenced by no log: delete now rather than leave an orphan
                self._files.delete(f.path)
            raise _DeltaConflict(e.what, e.hint) from e
        delta_done = time.perf_counter()
        _crash_point("delta")
        result = self._follow_in_iceberg(record, version, data_files, started, wrote, delta_done)
        if sequence % CHECKPOINT_INTERVAL == 0:  # Iceberg holds every batch: safe now
            self._delta.clean_up()
        return result

    def compact(self, paths: Sequence[str]) -> CommitResult | None:
        """Rewrite the data files at ``paths`` (relative, in order) as one, in both formats.

        The new file holds exactly their rows; the commit is a batch of its own with the
        stored positions unchanged, so exactly once holds, and readers of earlier
        versions keep reading the old files until :meth:`vacuum` deletes them (after
        the retention period). Runners may commit meanwhile: a conflict is retried on
        top of their batches. Returns ``None`` when another process compacted one of
        the files first (nothing is stored then).
        """
        if len(paths) < 2:
            raise ValueError("compacting needs at least two files")
        folders = {posixpath.dirname(p) for p in paths}
        if len(folders) > 1:
            # In a partitioned table a folder is a day: a file across days fits no partition.
            raise ValueError(f"compacting files of different folders: {', '.join(sorted(folders))}")
        live = {f.path: f for f in self._delta.live_files()}
        if any(p not in live for p in paths):
            return None
        # Named after the first file's batch, so that files stay in batch order.
        first = paths[0].rsplit("/", 1)[-1].split("-", 1)[0]
        name_sequence = int(first) if first.isdigit() else 0
        folder = folders.pop().removeprefix("data").lstrip("/") or None
        started = time.perf_counter()
        written = self._files.rewrite(paths, self._conform_stored, name_sequence, folder)
        expected = sum(live[p].rows for p in paths)
        if written.rows != expected:
            self._files.delete(written.path)
            raise DataIntegrityError(
                f"table {self.name}: compacting {len(paths)} files read {written.rows} rows, "
                f"their add actions say {expected}; nothing was committed",
                hint="compare both formats with `lakeforge verify`",
            )
        data_files = self._data_files([written])
        wrote = time.perf_counter()
        for attempt in range(SHARED_COMMIT_ATTEMPTS):
            last = self._delta.last_batch()
            live = {f.path: f for f in self._delta.live_files(reload=False)}
            if last is None or any(p not in live for p in paths):
                self._files.delete(written.path)
                return None
            sequence = last.record.sequence + 1
            record = BatchRecord(
                sequence,
                dict(last.record.positions),
                (written.path,),
                {COMPACTION_PROPERTY: str(len(paths))},
                removed=tuple(paths),
            )
            try:
                version = self._delta.commit(record, [written], [live[p] for p in paths])
                break
            except CommitConflictError:
                if attempt + 1 == SHARED_COMMIT_ATTEMPTS:
                    self._files.delete(written.path)
                    raise
                _back_off(attempt)
        delta_done = time.perf_counter()
        _crash_point("compact-delta")
        return self._follow_in_iceberg(record, version, data_files, started, wrote, delta_done)

    def _write(self, rows: pa.Table, sequence: int) -> list[WrittenFile]:
        """Write a batch's rows: one file, or one per day in a table partitioned by day."""
        if rows.num_rows == 0:
            return []
        if self.partition_by_day is None:
            return [self._files.write(rows, sequence)]
        written: list[WrittenFile] = []
        try:
            for day, part in split_by_day(rows, self.partition_by_day):
                directory = day_directory(self.partition_by_day, day)
                written.append(self._files.write(part, sequence, directory))
        except BaseException:
            for f in written:
                self._files.delete(f.path)
            raise
        return written

    def _data_files(self, written: Sequence[WrittenFile]) -> list[DataFile]:
        """Iceberg's entries for new files, made before any commit.

        A file Iceberg would refuse must stop the batch before Delta takes it, not after.
        """
        try:
            return [self._data_file(f) for f in written]
        except BaseException:
            for f in written:
                self._files.delete(f.path)
            raise

    def _follow_in_iceberg(
        self,
        record: BatchRecord,
        version: int,
        data_files: list[DataFile],
        started: float,
        wrote: float,
        delta_done: float,
    ) -> CommitResult:
        """Commit to Iceberg the batch Delta just took (at ``version``); what was stored.

        ``data_files`` are Iceberg's entries for the batch's new files. ``started``,
        ``wrote`` and ``delta_done`` are the ``perf_counter`` times the batch's Parquet
        write began, it ended (with the files' Iceberg entries made), and its Delta
        commit ended.
        """
        known = {record.sequence: data_files}
        snapshot_id = self._catch_up_iceberg(DeltaBatch(version, record), known)
        return CommitResult(
            rows=sum(f.record_count for f in data_files),
            files=record.files,
            sequence=record.sequence,
            delta_version=version,
            iceberg_snapshot_id=snapshot_id,
            positions=dict(record.positions),
            parquet_ms=(wrote - started) * 1000,
            delta_ms=(delta_done - wrote) * 1000,
            iceberg_ms=(time.perf_counter() - delta_done) * 1000,
        )

    def clean_up_log(self) -> None:
        """Delete Delta commit files past the log retention, once Iceberg holds every batch."""
        last = self._delta.last_batch()
        if last is not None:
            self._catch_up_iceberg(last, {})
            self._delta.clean_up()

    def live_files(self) -> list[LiveFile]:
        """The data files the table holds now, in batch order (relative paths, sizes)."""
        return self._delta.live_files()

    def vacuum(self, retain_hours: int, pinned: Iterable[Path] = ()) -> VacuumResult:
        """Delete the files no reader within ``retain_hours`` can need.

        Data files: those Delta's own rule lets go (removed, or never committed, more
        than ``retain_hours`` ago) that no Iceberg snapshot still in the metadata, nor
        any metadata file in ``pinned`` (copies readers hold, such as a transform's),
        references. Iceberg manifests and manifest lists: those no such snapshot needs,
        last written more than ``retain_hours`` ago.
        """
        pinned_metadata = [_read_pinned(p) for p in pinned]
        candidates = [
            p for p in self._delta.unreferenced_files(retain_hours) if p.startswith("data/")
        ]
        needed = self._iceberg.referenced(pinned_metadata)
        data = freed = 0
        for path in candidates:
            if self._files.uri(path) in needed:
                continue
            if (size := self._files.delete_if_present(path)) is not None:
                data += 1
                freed += size
        cutoff = time.time() - retain_hours * 3600
        metadata = 0
        for f in self._iceberg.metadata_files():
            with contextlib.suppress(FileNotFoundError):  # another vacuum got there first
                info = f.stat()
                if str(f) not in needed and info.st_mtime < cutoff:
                    f.unlink()
                    metadata += 1
                    freed += info.st_size
        return VacuumResult(data_files=data, metadata_files=metadata, bytes=freed)

    def _conform_stored(self, rows: pa.Table) -> pa.Table:
        """A stored file's rows in the current file schema (older files lack new columns)."""
        for f in self.schema:
            if f.name not in rows.column_names:
                rows = rows.append_column(f.name, pa.nulls(rows.num_rows, f.type))
        return conform_rows(rows.select(self.schema.names), self.schema, self._file_schema)

    def _data_file(self, written: WrittenFile) -> DataFile:
        return self._iceberg.data_file(self._files.uri(written.path), written.footer, written.size)

    def _catch_up_iceberg(
        self, target: DeltaBatch, known: Mapping[int, list[DataFile]]
    ) -> int | None:
        """Commit to Iceberg, in order, every batch up to ``target`` it lacks.

        Returns the id of the snapshot holding ``target``, whoever committed it (another
        process opening the table may replay this very batch first); ``None`` if that
        snapshot was already expired by later commits.
        """
        goal = target.record.sequence
        for _ in range(ICEBERG_ATTEMPTS):
            _, current = self._iceberg.current()
            done = current.sequence if current else 0
            if done >= goal:
                return self._iceberg.snapshot_of(goal)
            batches = [target] if done == goal - 1 else self._delta.batches_after(done, goal)
            try:
                snapshot_id: int | None = None
                for batch in batches:
                    files = known.get(batch.record.sequence)
                    if files is None:
                        files = [self._replayed_file(path) for path in batch.record.files]
                    removed = (
                        self._iceberg.live_files([self._files.uri(p) for p in batch.record.removed])
                        if batch.record.removed
                        else []
                    )
                    snapshot_id = self._iceberg.commit(batch.record, files, batch.version, removed)
                return snapshot_id
            except CommitConflictError:
                continue  # another process moved Iceberg: look again at what it holds
        raise CommitConflictError(
            f"table {self.name}: could not catch Iceberg up to batch {goal} in "
            f"{ICEBERG_ATTEMPTS} rounds; other processes keep committing",
            hint="retry later; opening the table again finishes the catch-up",
        )

    def _replayed_file(self, path: str) -> DataFile:
        size, _ = self._files.stat(path)
        return self._iceberg.data_file(self._files.uri(path), self._files.footer(path), size)

    def _reconcile(self) -> None:
        """Replay into Iceberg the batches Delta has and Iceberg lacks (a crash between).

        Iceberg is read before Delta: Delta commits first, so read in this order a
        healthy table always shows Iceberg at or behind Delta, even while another
        process commits.
        """
        _, iceberg = self._iceberg.current()
        delta = self._delta.last_batch()
        have, lead = (iceberg.sequence if iceberg else 0), (delta.record.sequence if delta else 0)
        if have > lead:
            raise DataIntegrityError(
                f"table {self.name}: Iceberg holds batch {have} but Delta, which is always "
                f"committed first, only batch {lead}",
                hint="the Delta log was rolled back or Iceberg was written by another tool; "
                "compare both with `lakeforge verify` before writing again",
            )
        if delta is not None and have < lead:
            self._catch_up_iceberg(delta, {})
        elif (
            delta is not None
            and iceberg is not None
            and iceberg.positions != delta.record.positions
        ):
            raise DataIntegrityError(
                f"table {self.name}: batch {lead} stored different positions in Iceberg "
                f"({iceberg.positions}) and Delta ({delta.record.positions})"
            )

    def read(self, format: Literal["iceberg", "delta"]) -> pa.Table:
        """The whole table as one format reads it, in the table's schema (for tests)."""
        return self.batches(format).read_all()

    def batches(self, format: Literal["iceberg", "delta"]) -> pa.RecordBatchReader:
        """The whole table as one format reads it, in the table's schema, a batch at a time.

        Memory stays bounded however large the table is: what ``verify`` reads.
        """
        if format == "iceberg":
            reader = self._iceberg.batches()
        elif format == "delta":
            reader = self._delta.batches()
        else:
            raise ConfigError(f"unknown table format {format!r}", hint="use 'iceberg' or 'delta'")
        schema = self.schema
        return pa.RecordBatchReader.from_batches(
            schema, (batch.select(schema.names).cast(schema) for batch in reader)
        )

    def read_batches(
        self,
        columns: Sequence[str],
        where: pc.Expression | None = None,
        batch_rows: int = 1024,
    ) -> Iterator[pa.RecordBatch]:
        """Only ``columns`` of the rows matching ``where``, from Delta, ``batch_rows`` at a time.

        ``where`` is a pyarrow dataset expression (``pc.field("_offset") > 9``); it is
        checked against each file's statistics first, so files and row groups that
        cannot match are not read. Batches come in no particular order. Memory stays at
        about one batch of the chosen columns plus one row group being decoded: the
        scanner reads ahead one batch of one file at a time, not its default of 16
        batches of 4 files, which with large binary columns would be hundreds of MB.
        A row group is read whole, so its values are held a few times over while they are
        decompressed and decoded.

        The dataset is kept until the table changes: listing its files costs far more
        than a scan that statistics prune to a few files, and callers scan many times.
        """
        dataset = self._dataset()
        schema = pa.schema([self.schema.field(name) for name in columns])
        for batch in dataset.to_batches(
            columns=list(columns),
            filter=where,
            batch_size=batch_rows,
            batch_readahead=1,
            fragment_readahead=1,
        ):
            if batch.num_rows:
                yield batch.cast(schema)

    def _dataset(self) -> ds.Dataset:
        """The Delta table's newest version as a pyarrow dataset, rebuilt when it changes."""
        if self._reader is None:
            self._reader = DeltaTable(self.delta_location)
        self._reader.update_incremental()
        version = self._reader.version()
        if self._read_version != version or self._read_dataset is None:
            self._read_dataset = self._reader.to_pyarrow_dataset()
            self._read_version = version
        return self._read_dataset

    def stats(self) -> TableStats:
        """Rows, files and the last commit, from Iceberg's snapshot summary alone.

        No data file is opened. After reconciliation Iceberg holds every batch Delta
        holds; a process that crashed between the two commits shows here as the
        previous batch until a table is opened again.
        """
        snapshot, record = self._iceberg.current()
        if snapshot is None:
            return TableStats(rows=0, files=0, sequence=0, last_commit_time=None)
        summary = summary_of(snapshot)
        return TableStats(
            rows=int(summary.get("total-records", 0)),
            files=int(summary.get("total-data-files", 0)),
            sequence=record.sequence if record else 0,
            last_commit_time=datetime.fromtimestamp(snapshot.timestamp_ms / 1000, UTC),
            last_properties=dict(record.properties) if record else {},
            positions=dict(record.positions) if record else {},
        )

    def delta_rows(self) -> int:
        """Rows in the Delta table, from its add actions (no data file is opened).

        :meth:`stats` counts from Iceberg; comparing both is a cheap first check that
        the formats agree.
        """
        return self._delta.rows()


class _DeltaConflict(CommitConflictError):
    """Another writer committed to Delta first; nothing of this commit was stored."""


def _read_pinned(path: Path) -> TableMetadata:
    """A reader's pinned metadata file; a transform may be rewriting it: read again."""
    for attempt in range(PIN_READ_ATTEMPTS):
        try:
            return StaticTable.from_metadata(str(path)).metadata
        except (OSError, ValueError) as error:
            if attempt + 1 == PIN_READ_ATTEMPTS:
                raise CommitConflictError(
                    f"vacuum: the pinned metadata {path} cannot be read: {error}",
                    hint="a transform keeps rewriting it; the next round reads it again",
                ) from error
            time.sleep(0.2)
    raise AssertionError("unreachable")


def _back_off(attempt: int) -> None:
    """Sleep before retry ``attempt`` + 1, with jitter: writers that met do not meet again."""
    time.sleep(random.uniform(0, min(SHARED_BACKOFF_MAX_S, 0.01 * 2**attempt)))


def _crash_point(step: str) -> None:
    """Kill this process without any cleanup when the test hook names ``step``."""
    if os.environ.get(CRASH_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)
