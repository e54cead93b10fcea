"""A lake table's Iceberg side: the follower, committed after Delta, by metadata only.

Each batch is one append snapshot that references files already written under the
Delta root, with the batch record in its summary. Iceberg never decides anything:
whatever it lacks is replayed from Delta's log, in sequence order.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.parquet as pq
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import CommitFailedException, TableAlreadyExistsError
from pyiceberg.io.pyarrow import (
    ArrowScan,
    compute_statistics_plan,
    data_file_statistics_from_parquet_metadata,
    parquet_path_to_id_mapping,
    schema_to_pyarrow,
)
from pyiceberg.manifest import DataFile, DataFileContent, FileFormat
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.table.snapshots import Snapshot
from pyiceberg.table.update.snapshot import ExpireSnapshots
from pyiceberg.transforms import DayTransform

from lakeforge.errors import DataIntegrityError
from lakeforge.lake.base import CommitConflictError
from lakeforge.lake.batch import REMOVED_KEY, BatchRecord
from lakeforge.lake.days import partition_field_name

#: Where a table's Delta root is recorded, so that opening a table needs no layout rule.
DELTA_LOCATION_PROPERTY = "lakeforge.delta-location"
DELTA_VERSION_KEY = "lakeforge.delta-version"
NAME_MAPPING_PROPERTY = "schema.name-mapping.default"
#: Snapshots kept in the metadata; each commit drops older ones from it (no file deleted).
SNAPSHOTS_KEPT = 20
EXPIRY_SLACK = 10
MANIFESTS_TO_MERGE = 50
MANIFEST_BYTES = 256 * 1024

TABLE_PROPERTIES: Mapping[str, str] = {
    # pyiceberg rewrites the whole metadata file on each commit; without these every
    # version stays on disk forever (one file per commit). Few are kept: the metadata
    # log is deep-copied many times per commit too (see _expired_snapshots).
    "write.metadata.delete-after-commit.enabled": "true",
    "write.metadata.previous-versions-max": str(SNAPSHOTS_KEPT),
    # pyiceberg's own retry rebuilds a failed append on top of the new head. If the
    # head is this very batch, replayed by another process, that commits it twice.
    # lakeforge retries itself, after checking which batches Iceberg holds.
    "commit.retry.num-retries": "0",
    # What the commit keeps; also what Java's expire_snapshots honours.
    "history.expire.min-snapshots-to-keep": str(SNAPSHOTS_KEPT),
    # A fast append adds one manifest per commit, and every commit rewrites the list of
    # them. Merge small manifests once MANIFESTS_TO_MERGE pile up, into manifests of at
    # most MANIFEST_BYTES (about 800 files; pyiceberg's Avro is pure Python): a full one
    # is never rewritten, so a merge costs at most ~0.5 s, every 50 commits.
    "commit.manifest-merge.enabled": "true",
    "commit.manifest.min-count-to-merge": str(MANIFESTS_TO_MERGE),
    "commit.manifest.target-size-bytes": str(MANIFEST_BYTES),
}


def create_table(
    catalog: Catalog,
    identifier: tuple[str, str],
    schema: pa.Schema,
    location: str,
    delta: str,
    partition_by_day: str | None = None,
) -> Table:
    """Create the Iceberg table, or load it if another process created it first.

    ``partition_by_day``: a timestamp column whose UTC day partitions the table.
    """
    try:
        create = catalog.create_table_transaction(
            identifier,
            schema,
            location=location,
            properties={**TABLE_PROPERTIES, DELTA_LOCATION_PROPERTY: delta},
        )
        if partition_by_day is not None:
            with create.update_spec() as spec:
                spec.add_field(
                    partition_by_day, DayTransform(), partition_field_name(partition_by_day)
                )
        # The name mapping must be built from the ids pyiceberg just assigned. Our files
        # carry those ids; the mapping lets readers scan files without ids too (the
        # notes' trap: low-level fast_append, unlike add_files, never sets it).
        mapping = create.table_metadata.schema().name_mapping.model_dump_json()
        create.set_properties({NAME_MAPPING_PROPERTY: mapping})
        create.commit_transaction()  # returns a staged table, which cannot be refreshed
    except TableAlreadyExistsError:
        pass
    except CommitFailedException:
        # Runners starting together: another process created it between the catalog's
        # check and this commit (then it loads below; anything else is re-raised).
        if not catalog.table_exists(identifier):
            raise
    table = catalog.load_table(identifier)
    write_version_hint(table)
    return table


def partition_by_day(table: Table) -> str | None:
    """The column whose UTC day partitions ``table``; None when it is unpartitioned."""
    schema = table.schema()
    for field in table.spec().fields:
        if isinstance(field.transform, DayTransform):
            return schema.find_column_name(field.source_id)
    return None


def write_version_hint(table: Table) -> None:
    """Point ``metadata/version-hint.text`` at the table's current metadata file.

    Readers without a catalog (DuckDB's ``iceberg_scan`` of a table directory, Spark's
    Hadoop tables) find the latest committed metadata through this file. It is written
    after the catalog commit, atomically, so it never names an uncommitted version; a
    crash in between leaves it one commit behind until the next commit. Only local
    tables get one: readers of object stores go through the catalog.
    """
    location = urlparse(table.metadata_location)
    if location.scheme not in ("", "file"):
        return
    metadata = Path(location.path)
    stem = metadata.name.removesuffix(".metadata.json")
    with tempfile.NamedTemporaryFile(
        "w", dir=metadata.parent, prefix=".version-hint", delete=False
    ) as hint:
        hint.write(stem)
    os.replace(hint.name, metadata.parent / "version-hint.text")


def summary_of(snapshot: Snapshot) -> dict[str, str]:
    """A snapshot's summary properties (``total-records``, lakeforge's keys, ...)."""
    return dict(snapshot.summary.additional_properties) if snapshot.summary else {}


class IcebergLog:
    """The Iceberg side of one lake table."""

    def __init__(self, table: Table) -> None:
        self.table = table

    @property
    def schema(self) -> Schema:
        """The table's Iceberg schema (with its field ids)."""
        return self.table.schema()

    @property
    def partition_by_day(self) -> str | None:
        """The column whose day partitions the table; None when it is unpartitioned."""
        return partition_by_day(self.table)

    @property
    def delta_location(self) -> str:
        """The root of the table's Delta side, where the data files live."""
        return self.table.properties[DELTA_LOCATION_PROPERTY]

    def current(self) -> tuple[Snapshot | None, BatchRecord | None]:
        """The current snapshot and the last batch record, after reloading from the catalog.

        The record is the head's, or, when another tool committed since (a compaction
        carries no lakeforge keys), the newest one among its ancestors.
        """
        self.table.refresh()
        head = self.table.current_snapshot()
        for snapshot in self._ancestry():
            if (record := BatchRecord.from_properties(summary_of(snapshot))) is not None:
                return head, record
        if head is not None and summary_of(head).get("total-data-files", "0") != "0":
            raise DataIntegrityError(
                f"Iceberg table {self.table.name()}: no snapshot still in the metadata "
                "says which batches it holds",
                hint="other tools committed more snapshots than lakeforge keeps; "
                "the Delta side is intact: compare both with `lakeforge verify`",
            )
        return head, None

    def snapshot_of(self, sequence: int) -> int | None:
        """The snapshot that committed batch ``sequence``; ``None`` once it was expired."""
        for snapshot in self._ancestry():
            record = BatchRecord.from_properties(summary_of(snapshot))
            if record is not None and record.sequence == sequence:
                return int(snapshot.snapshot_id)
        return None

    def _ancestry(self) -> Iterator[Snapshot]:
        """The current snapshot, its parent, and so on while they are in the metadata."""
        snapshot = self.table.current_snapshot()
        while snapshot is not None:
            yield snapshot
            parent = snapshot.parent_snapshot_id
            snapshot = self.table.metadata.snapshot_by_id(parent) if parent is not None else None

    def data_file(self, uri: str, footer: pq.FileMetaData, size: int) -> DataFile:
        """An Iceberg data file entry for a Parquet file, with statistics from its footer."""
        schema, metadata = self.schema, self.table.metadata
        statistics = data_file_statistics_from_parquet_metadata(
            parquet_metadata=footer,
            stats_columns=compute_statistics_plan(schema, metadata.properties),
            parquet_column_mapping=parquet_path_to_id_mapping(schema),
        )
        try:
            partition = statistics.partition(metadata.spec(), schema)
        except ValueError as error:
            # Files are split by day before they are written: this is a file from elsewhere.
            raise DataIntegrityError(
                f"Iceberg table {self.table.name()}: data file {uri} does not fit one "
                f"partition: {error}",
                hint="a file of a day-partitioned table holds rows of one day only",
            ) from error
        return DataFile.from_args(
            content=DataFileContent.DATA,
            file_path=uri,
            file_format=FileFormat.PARQUET,
            partition=partition,
            file_size_in_bytes=size,
            sort_order_id=None,
            spec_id=metadata.default_spec_id,
            equality_ids=None,
            key_metadata=None,
            **statistics.to_serialized_dict(),
        )

    def commit(
        self,
        record: BatchRecord,
        files: list[DataFile],
        delta_version: int,
        removed: Sequence[DataFile] = (),
    ) -> int:
        """Append one batch on top of the snapshot last loaded; return the new snapshot id.

        The append asserts that the head has not moved since (the catalog compares
        metadata locations), so batches land in sequence order. A batch that removes
        files (a compaction) is an overwrite snapshot instead: its new file holds the
        removed files' rows. Raises :class:`CommitConflictError` when another process
        moved the head first.
        """
        # A compaction's list of removed files stays in Delta's commit info (replays
        # read it there): Iceberg's own manifests say what left, and the list, tens of
        # KB, would be rewritten with the metadata by every commit while kept.
        stored = record.to_properties()
        stored.pop(REMOVED_KEY, None)
        summary = {**stored, DELTA_VERSION_KEY: str(delta_version)}
        try:
            with self.table.transaction() as transaction:
                snapshot = transaction.update_snapshot(snapshot_properties=summary)
                if removed:
                    with snapshot.overwrite() as overwrite:
                        for data_file in removed:
                            overwrite.delete_data_file(data_file)
                        for data_file in files:
                            overwrite.append_data_file(data_file)
                else:
                    # No duplicate check (the notes: add_files' check grows with
                    # history); the batch sequence already makes the commit idempotent.
                    # A merge append, so that manifests do not pile up one per commit.
                    with snapshot.merge_append() as append:
                        for data_file in files:
                            append.append_data_file(data_file)
                if (cutoff := self._expiry_cutoff()) is not None:
                    ExpireSnapshots(transaction).older_than(cutoff).commit()
        except CommitFailedException as e:
            raise CommitConflictError(
                f"Iceberg table {self.table.name()}: another process committed first"
            ) from e
        write_version_hint(self.table)
        current = self.table.current_snapshot()
        assert current is not None  # the append just made one
        return int(current.snapshot_id)

    def live_files(self, uris: Collection[str]) -> list[DataFile]:
        """The current snapshot's entries for the data files at ``uris`` (a compaction's).

        Raises :class:`DataIntegrityError` if one is not in the table.
        """
        snapshot = self.table.current_snapshot()
        found: dict[str, DataFile] = {}
        wanted = set(uris)
        if snapshot is not None:
            for manifest in snapshot.manifests(self.table.io):
                for entry in manifest.fetch_manifest_entry(self.table.io, discard_deleted=True):
                    if entry.data_file.file_path in wanted:
                        found[entry.data_file.file_path] = entry.data_file
        if missing := sorted(wanted - set(found)):
            raise DataIntegrityError(
                f"Iceberg table {self.table.name()}: files to compact are not in the "
                f"current snapshot: {', '.join(missing[:3])}",
                hint="compare both formats with `lakeforge verify`",
            )
        return [found[uri] for uri in uris]

    def referenced(self, metadata: Iterable[TableMetadata] = ()) -> set[str]:
        """Every data, manifest and manifest-list file a kept snapshot needs.

        That is, of the snapshots in this table's metadata and of ``metadata`` (copies
        readers pinned). Reads each manifest list and manifest once.
        """
        io = self.table.io
        self.table.refresh()
        needed: set[str] = set()
        for state in (self.table.metadata, *metadata):
            for snapshot in state.snapshots:
                if snapshot.manifest_list in needed:
                    continue
                needed.add(snapshot.manifest_list)
                for manifest in snapshot.manifests(io):
                    if manifest.manifest_path in needed:
                        continue
                    needed.add(manifest.manifest_path)
                    for entry in manifest.fetch_manifest_entry(io, discard_deleted=True):
                        needed.add(entry.data_file.file_path)
        return needed

    def metadata_files(self) -> list[Path]:
        """The manifest and manifest-list files in a local table's metadata folder.

        Object stores: none for now (their lifecycle rules can expire old metadata).
        """
        location = urlparse(self.table.metadata_location)
        if location.scheme not in ("", "file"):
            return []
        return sorted(Path(location.path).parent.glob("*.avro"))

    def _expiry_cutoff(self) -> datetime | None:
        """Before when snapshots leave the metadata, once SNAPSHOTS_KEPT are exceeded.

        Measured: pyiceberg deep-copies the whole metadata many times per commit, so
        commit time grows with the snapshot count (40 ms at 10 snapshots, 430 ms at
        300), and pruning old metadata files alone does not stop it. Dropping snapshots
        from the metadata deletes no file: every data file and manifest stays referenced
        by the current snapshot; old manifest lists are left for a later cleanup. It
        runs every EXPIRY_SLACK commits, as one cut-off (pyiceberg's expiry by id copies
        the metadata twice per snapshot).
        """
        stamps = sorted(s.timestamp_ms for s in self.table.metadata.snapshots)
        if len(stamps) < SNAPSHOTS_KEPT + EXPIRY_SLACK:
            return None
        # With the snapshot being added, SNAPSHOTS_KEPT remain.
        return datetime.fromtimestamp(stamps[-(SNAPSHOTS_KEPT - 1)] / 1000, UTC)

    def batches(self) -> pa.RecordBatchReader:
        """Every row of the current snapshot, a file at a time (verify, tests).

        Not ``scan().to_arrow_batch_reader()``: pyiceberg 0.12 hands every file to its
        thread pool at once and keeps what they read until it is consumed, so a table
        of 88M trades took 11 GB. One file at a time keeps memory to a file's worth.
        """
        self.table.refresh()
        scan = self.table.scan()
        schema = scan.projection()
        reader = ArrowScan(self.table.metadata, self.table.io, schema, scan.row_filter)
        batches = (b for task in scan.plan_files() for b in reader.to_record_batches([task]))
        return pa.RecordBatchReader.from_batches(schema_to_pyarrow(schema), batches)
