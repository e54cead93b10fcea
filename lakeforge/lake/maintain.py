"""Upkeep of a stream table: compaction, Delta log clean-up and vacuum.

A runner commits one data file per micro-batch: 216,000 files a day at 400 ms, each
a few MB at most. Readers pay per file, so compaction merges consecutive small files
into files of about a target size. Each merge is a batch of its own in both formats
(:meth:`~lakeforge.lake.table.LakeTable.compact`): it changes no row and no position,
so exactly once holds, and runners keep committing meanwhile.

Merged-away files stay until no reader can need them: :meth:`LakeTable.vacuum`
deletes them after the retention period, with Iceberg manifests no kept snapshot
needs. Snapshot expiry and Delta checkpoints happen on every commit already (see
``iceberg_log`` and ``delta_log``); maintenance cleans up Delta's old commit files.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lakeforge.lake.base import VacuumResult
from lakeforge.lake.delta_log import LiveFile
from lakeforge.lake.table import LakeTable

MIB = 1024 * 1024
#: The most files one compaction merges: each is opened in turn, and their names go into
#: Delta's commit info (a few hundred KB at this many). Small files of a slow stream
#: (tens of KB) would otherwise make groups of thousands.
MAX_FILES_PER_COMPACTION = 1000


@dataclass(frozen=True)
class MaintenanceReport:
    """What maintaining one table did."""

    table: str
    files_before: int
    files_after: int
    #: Compaction commits made (each merged two files or more into one).
    compactions: int
    #: Files merged away by them.
    files_compacted: int
    vacuum: VacuumResult
    seconds: float

    def to_json(self) -> dict[str, object]:
        """A plain dict for ``--json``."""
        return {
            "table": self.table,
            "files_before": self.files_before,
            "files_after": self.files_after,
            "compactions": self.compactions,
            "files_compacted": self.files_compacted,
            "deleted_data_files": self.vacuum.data_files,
            "deleted_metadata_files": self.vacuum.metadata_files,
            "freed_bytes": self.vacuum.bytes,
            "seconds": round(self.seconds, 3),
        }


def plan_compaction(files: Sequence[LiveFile], target_bytes: int) -> list[list[LiveFile]]:
    """Groups of consecutive small files, each to become one file of about ``target_bytes``.

    A file is small below half the target; a group holds at most
    MAX_FILES_PER_COMPACTION files. Only neighbours in batch order are merged,
    so each file still holds one stretch of the stream (readers skip files by
    ingestion time), and only files of the same day partition. A group needs two
    files at least; the newest, still filling, is merged again by a later run once
    more files join it.
    """
    groups: list[list[LiveFile]] = []
    current: list[LiveFile] = []
    size = 0
    for f in files:
        full = size + f.size > target_bytes or len(current) == MAX_FILES_PER_COMPACTION
        if current and f.day != current[-1].day:
            full = True
        if f.size >= target_bytes // 2 or (current and full):
            if len(current) > 1:
                groups.append(current)
            current, size = [], 0
            if f.size >= target_bytes // 2:
                continue
        current.append(f)
        size += f.size
    if len(current) > 1:
        groups.append(current)
    return groups


def maintain_table(
    table: LakeTable,
    *,
    target_file_mb: int,
    retain_hours: int,
    pinned: Iterable[Path] = (),
) -> MaintenanceReport:
    """Compact ``table``'s small files, clean up Delta's log, then vacuum.

    ``pinned``: Iceberg metadata files readers hold (a transform's pinned bronze);
    vacuum keeps every file they name.
    """
    began = time.perf_counter()
    before = table.live_files()
    compactions = merged = 0
    for group in plan_compaction(before, target_file_mb * MIB):
        if table.compact([f.path for f in group]) is not None:
            compactions += 1
            merged += len(group)
    table.clean_up_log()
    vacuum = table.vacuum(retain_hours, pinned)
    return MaintenanceReport(
        table=table.name,
        files_before=len(before),
        files_after=len(table.live_files()),
        compactions=compactions,
        files_compacted=merged,
        vacuum=vacuum,
        seconds=time.perf_counter() - began,
    )
