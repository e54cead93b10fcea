"""A lake table's Delta log: the leader, whose commits decide what the table holds.

Each batch is one Delta commit made of metadata only: add actions for files already
written, an app transaction ``(lakeforge, sequence)`` and the batch record in the
commit info. The app transaction survives checkpoints and is what Delta checks for
concurrent writers; the commit info carries the positions and file list that
reconciliation needs to replay a batch into Iceberg.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import CommitProperties, DeltaTable, Transaction
from deltalake.exceptions import CommitFailedError, DeltaError
from deltalake.transaction import AddAction, RemoveAction

from lakeforge.errors import DataIntegrityError
from lakeforge.lake.base import CommitConflictError
from lakeforge.lake.batch import BatchRecord
from lakeforge.lake.days import day_of_path
from lakeforge.lake.parquet import WrittenFile

#: The app id of lakeforge's app transactions; one source (one set of positions) per table.
APP_ID = "lakeforge"
#: A checkpoint every 20 commits bounds how many JSON commits a reader replays.
CHECKPOINT_INTERVAL = 20
#: Commit files older than this (and older than the last checkpoint) are deleted by
#: :meth:`DeltaLog.clean_up`. delta-rs lists the whole log directory of a local table
#: several times per commit: measured, a commit took 7 ms with 50 log files and 25-40 ms
#: with 900, and loading new commits took 24 ms with 3,700 (bench/upkeep_bench.py). At
#: 400 ms batches an hour's retention means 9,000 files and a commit cost that grows
#: through the first hour; ten minutes keep it at about 1,500. The cost: Delta time
#: travel, and a transform's pinned Delta version, reach back ten minutes (a build
#: reads its pin for seconds). Delta's default of 30 days would keep 6.5M files.
LOG_RETENTION = "interval 10 minutes"


@dataclass(frozen=True)
class LiveFile:
    """A data file the table's newest version holds, as its add action describes it."""

    #: Relative to the table root.
    path: str
    size: int
    rows: int

    @property
    def day(self) -> str | None:
        """The day partition (``YYYY-MM-DD``) the file is in; None when unpartitioned."""
        return day_of_path(self.path)


@dataclass(frozen=True)
class DeltaBatch:
    """One lakeforge commit as Delta's log holds it."""

    version: int
    record: BatchRecord


class DeltaLog:
    """The Delta side of one lake table (local path or any URI delta-rs opens)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self._table = DeltaTable(uri)
        self._last: DeltaBatch | None = None

    @classmethod
    def create(cls, uri: str, schema: pa.Schema, name: str) -> DeltaLog:
        """Create the Delta table, or open it if another process created it first."""
        try:
            DeltaTable.create(
                uri,
                schema,
                mode="error",
                name=name,
                configuration={
                    "delta.checkpointInterval": str(CHECKPOINT_INTERVAL),
                    "delta.logRetentionDuration": LOG_RETENTION,
                    # Not in a commit's own post-commit hook: there, it could delete the
                    # commit info of batches Iceberg still lacks. lakeforge cleans up
                    # after Iceberg caught up instead.
                    "delta.enableExpiredLogCleanup": "false",
                },
            )
        except DeltaError:
            if not DeltaTable.is_deltatable(uri):
                raise
        return cls(uri)

    @staticmethod
    def exists(uri: str) -> bool:
        """Whether a Delta table lives at ``uri``."""
        return bool(DeltaTable.is_deltatable(uri))

    def schema(self) -> pa.Schema:
        """The table's schema, as Delta holds it."""
        return pa.schema(self._table.schema().to_arrow())

    def last_batch(self) -> DeltaBatch | None:
        """The newest lakeforge batch, after loading any commits made since the last call."""
        self._table.update_incremental()
        sequence = self._table.transaction_version(APP_ID)
        if sequence is None:
            return None
        if self._last is None or self._last.record.sequence != sequence:
            self._last = self._find([sequence])[0]
        return self._last

    def batches_after(self, sequence: int, upto: int) -> list[DeltaBatch]:
        """The batches ``sequence + 1 .. upto``, oldest first, from the log's commit info."""
        return self._find(list(range(sequence + 1, upto + 1)))

    def _find(self, sequences: list[int]) -> list[DeltaBatch]:
        found: dict[int, DeltaBatch] = {}
        limit = max(len(sequences), 1)
        while True:
            history = self._table.history(limit)
            for commit in history:
                record = BatchRecord.from_properties(commit)
                if record is not None and record.sequence in sequences:
                    found.setdefault(record.sequence, DeltaBatch(int(commit["version"]), record))
            if len(found) == len(sequences):
                return [found[s] for s in sequences]
            if len(history) < limit:
                missing = sorted(set(sequences) - set(found))
                raise DataIntegrityError(
                    f"Delta table {self.uri}: the log no longer holds the commit info of "
                    f"batches {missing}",
                    hint="the commits were removed by log cleanup or the log was edited; "
                    "restore the _delta_log directory from a backup",
                )
            limit *= 4

    def commit(
        self, record: BatchRecord, files: list[WrittenFile], removed: Sequence[LiveFile] = ()
    ) -> int:
        """Commit one batch on top of the batch :meth:`last_batch` last saw; return its version.

        A batch that removes files (a compaction) changes no data: its add and remove
        actions say so (``dataChange: false``), so Delta's streaming readers skip it.

        Raises :class:`CommitConflictError` when another writer committed first: either
        seen here (the sequence does not follow) or by Delta's own check that no commit
        with an app transaction of the same app id landed since. Nothing is committed then.
        """
        stored = self._last.record.sequence if self._last else 0
        # Delta keeps whatever app-transaction version comes last (5 then 3 leaves 3),
        # so the order is enforced here (a trap from the notes).
        # The handle is what delta-rs checks concurrent commits against: if anything
        # reloaded it past that batch (another writer committed meanwhile), its app
        # transaction shows it, and Delta's own check would not.
        loaded = self._table.transaction_version(APP_ID) or 0
        if record.sequence != stored + 1 or loaded != stored:
            raise CommitConflictError(
                f"Delta table {self.uri}: batch {record.sequence} does not follow batch "
                f"{max(stored, loaded)}"
            )
        changes_data = not record.removed
        now_ms = int(time.time() * 1000)
        actions: list[AddAction | RemoveAction] = [
            AddAction(f.path, f.size, {}, f.modified_ms, changes_data, f.delta_stats) for f in files
        ]
        actions += [RemoveAction(f.path, False, now_ms, f.size) for f in removed]
        properties = CommitProperties(
            custom_metadata=record.to_properties(),
            app_transactions=[Transaction(APP_ID, record.sequence)],
        )
        read_version = self._table.version()
        try:
            # The table's own schema, so that the commit never carries a schema change.
            self._table.create_write_transaction(
                actions, "append", self._table.schema(), commit_properties=properties
            )
        except CommitFailedError as e:
            raise CommitConflictError(
                f"Delta table {self.uri}: another writer committed batch {record.sequence} first",
                hint="retry: the retry re-reads the stored positions and drops stored rows",
            ) from e
        # The notes' trap: the handle is not advanced by create_write_transaction, and a
        # stale handle fails the next app-transaction commit as a concurrent one.
        self._table.update_incremental()
        version = self._table.version()
        if version == read_version + 1:  # the only new version is this commit
            self._last = DeltaBatch(version, record)
        else:  # others committed right after (or delta-rs retried past them): look it up
            self._last = self._find([record.sequence])[0]
        return self._last.version

    def clean_up(self) -> None:
        """Delete commit files past LOG_RETENTION that precede the last checkpoint.

        Call only when Iceberg holds every batch: reconciliation reads the commit info
        of the batches it lacks.
        """
        self._table.cleanup_metadata()

    def live_files(self, reload: bool = True) -> list[LiveFile]:
        """The data files of the newest version, in the order their batches added them.

        ``reload=False``: of the version :meth:`last_batch` loaded, so both describe
        the same state (what a compaction must commit on top of).
        """
        if reload:
            self._table.update_incremental()
        actions = pa.table(self._table.get_add_actions(flatten=True))
        if actions.num_rows == 0:
            return []
        paths = actions.column("path").to_pylist()
        sizes = actions.column("size_bytes").to_pylist()
        rows = actions.column("num_records").fill_null(-1).to_pylist()
        # File names start with the zero-padded sequence of the batch that wrote them
        # (under a day's folder in a partitioned table: days in order, then batches).
        return sorted(
            (LiveFile(p, int(s), int(r)) for p, s, r in zip(paths, sizes, rows, strict=True)),
            key=lambda f: f.path,
        )

    def unreferenced_files(self, retain_hours: int) -> list[str]:
        """Files under the root no version within ``retain_hours`` needs (nothing deleted).

        Delta's own rule, from its full vacuum: files removed more than ``retain_hours``
        ago, and files no commit references that are older than that (a batch that
        crashed before its commit, or one being written right now, which is younger).
        """
        self._table.update_incremental()
        return sorted(
            self._table.vacuum(
                retention_hours=retain_hours,
                dry_run=True,
                enforce_retention_duration=False,
                full=True,
            )
        )

    def rows(self) -> int:
        """Rows in the table, summed from the add actions' statistics (no data file read)."""
        self._table.update_incremental()
        actions = pa.table(self._table.get_add_actions(flatten=True))
        if actions.num_rows == 0:
            return 0
        return int(pc.sum(actions.column("num_records")).as_py() or 0)

    def batches(self) -> pa.RecordBatchReader:
        """Every row of the table at its newest version, a batch at a time (verify, tests)."""
        self._table.update_incremental()
        return self._table.to_pyarrow_dataset().scanner().to_reader()
