"""What the lake hands back to its callers: commit results, table statistics, errors.

A lake table is one set of Parquet files committed to two logs, Delta (the leader) and
Iceberg. Every commit stores, with the data, the *positions* of the source it consumed:
for each source partition, the next offset to read. These types are what callers (the
stream runner, ``lakeforge tables``, ``lakeforge verify``) see of that.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from lakeforge.errors import TerminalError, TransientError

#: Every row carries the source partition it came from (int32) ...
PARTITION_COLUMN = "_partition"
#: ... and its offset in that partition (int64).
OFFSET_COLUMN = "_offset"


@dataclass(frozen=True)
class CommitResult:
    """What one :meth:`LakeTable.commit` stored, and how long each step took."""

    #: Rows written, after dropping those already stored.
    rows: int
    #: Data files added, relative to the Delta table root (empty for a positions-only commit).
    files: tuple[str, ...]
    #: The batch sequence, 1 for a table's first commit, then +1 per commit.
    sequence: int
    #: The Delta table version of this commit.
    delta_version: int
    #: The Iceberg snapshot of this commit; ``None`` in the rare case where another process
    #: replayed the batch into Iceberg and later commits already expired its snapshot.
    iceberg_snapshot_id: int | None
    #: The positions now stored: partition -> next offset.
    positions: dict[int, int]
    parquet_ms: float = 0.0
    delta_ms: float = 0.0
    iceberg_ms: float = 0.0


@dataclass(frozen=True)
class VacuumResult:
    """What one :meth:`LakeTable.vacuum` deleted."""

    data_files: int
    #: Iceberg manifests and manifest lists no kept snapshot needs.
    metadata_files: int
    bytes: int


@dataclass(frozen=True)
class TableStats:
    """A table's size and last commit, read from metadata only (no data file is opened)."""

    rows: int
    files: int
    #: The last batch sequence; 0 for a table never committed to.
    sequence: int
    #: When the last commit happened; ``None`` for a table never committed to.
    last_commit_time: datetime | None
    #: The ``properties`` given to the last commit (e.g. ``lakeforge.max_event_time``).
    last_properties: dict[str, str] = field(default_factory=dict)
    positions: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class TableInfo:
    """One table of a warehouse, as ``lakeforge tables`` lists it."""

    #: ``namespace.table``, e.g. ``bronze.trades``.
    name: str
    #: The current Iceberg metadata file (``iceberg_scan`` of exactly this version).
    iceberg_metadata_location: str
    #: The Delta table root (what ``delta_scan`` wants); the data files live under it.
    #: ``None`` for a table only in Iceberg: the silver and gold tables transforms write.
    delta_location: str | None
    rows: int
    #: The Iceberg table directory (``iceberg_scan`` of the latest version, found through
    #: its ``version-hint.text``).
    iceberg_location: str = ""
    #: The Delta version holding the same batches as the current Iceberg snapshot (so
    #: both formats can be read at one state); ``None`` for Iceberg-only tables.
    delta_version: int | None = None
    #: The column whose UTC day partitions the table; ``None`` when it is unpartitioned.
    partition_by_day: str | None = None


class CommitConflictError(TransientError):
    """Another writer committed to the same table while this commit was being made.

    Nothing of this commit was stored. Retrying re-reads the stored positions and
    drops the rows the other writer already stored, so a retry never duplicates.
    """


class PositionsError(TerminalError):
    """The positions given to a commit contradict the stored positions or the rows."""
