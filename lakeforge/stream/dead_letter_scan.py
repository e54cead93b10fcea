"""Read dead-letter tables a bounded amount at a time, for ``lakeforge dead-letters``.

A flood of bad messages can leave millions of dead letters of up to a message's size
each, so nothing here reads a table whole. :func:`oldest` streams the narrow columns
(:data:`READ_ROWS` rows at a time), keeping the oldest letters and a count;
:func:`previews` then reads values for those letters only. :func:`keys_of` reads where
every letter is (about 30 bytes a letter; all a dry run of a replay needs), and
:func:`letters` reads the values of those not replayed yet, a chunk at a time
(:data:`~lakeforge.stream.replay.CHUNK_ROWS` letters, about
:data:`~lakeforge.stream.replay.CHUNK_BYTES`), in offset order per partition. Values
are read :data:`VALUE_READ_ROWS` at a time. The sizes are module settings, read at
each call, so that tests can lower them.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakeforge.lake.table import LakeTable
from lakeforge.stream import replay as replaying
from lakeforge.stream.replay import Letter, ReplayLedger

#: Rows read from a dead-letter table at a time, without values...
READ_ROWS = 65_536
#: ... and with values: 64 messages of the largest size (1 MB) are 64 MB. Both are read
#: when a command runs, so that tests can lower them.
VALUE_READ_ROWS = 64
#: Bytes of a value that ``list`` shows.
PREVIEW_BYTES = 16
_KEY = ["_topic", "_partition", "_offset"]
#: Oldest first; ``_source`` (which table) breaks ties as concatenating tables in order did.
_ORDER = [(name, "ascending") for name in [*_KEY, "_source"]]


def _batches(
    source: int, table: LakeTable, columns: list[str], where: pc.Expression | None, rows: int
) -> Iterator[pa.Table]:
    """``table``'s batches of ``columns`` matching ``where``, ``_source`` set to ``source``."""
    for batch in table.read_batches(columns, where, rows):
        sources = pa.array(np.full(batch.num_rows, source, np.int16))
        yield pa.Table.from_batches([batch]).append_column("_source", sources)


def _scan(
    tables: list[LakeTable], columns: list[str], where: pc.Expression | None
) -> Iterator[pa.Table]:
    """Every table's batches of ``columns`` matching ``where``, with ``_source``."""
    rows = VALUE_READ_ROWS if "value" in columns else READ_ROWS
    for source, table in enumerate(tables):
        yield from _batches(source, table, columns, where, rows)


def _of_kind(kind: str | None) -> pc.Expression | None:
    return None if kind is None else pc.field("error_kind") == kind


def oldest(tables: list[LakeTable], kind: str | None, limit: int) -> tuple[int, pa.Table]:
    """How many letters there are, and the oldest ``limit`` of them, without values.

    Holds at most ``limit`` + one batch of rows, of the narrow columns only.
    """
    total = 0
    kept: pa.Table | None = None
    for batch in _scan(tables, [*_KEY, "error_kind", "reason"], _of_kind(kind)):
        total += batch.num_rows
        both = batch if kept is None else pa.concat_tables([kept, batch])
        kept = both.take(pc.sort_indices(both, _ORDER)[:limit])  # a copy: the batch goes
    return total, kept if kept is not None else pa.table({})


def _at(keys: pa.Table) -> pc.Expression:
    """The rows at ``keys`` (of one table): per partition, an offset range and the offsets.

    The range lets files and row groups whose statistics lie outside it go unread.
    """
    where: pc.Expression | None = None
    for (topic, partition), offsets in _by_partition(keys):
        here = (
            (pc.field("_topic") == topic)
            & (pc.field("_partition") == partition)
            & (pc.field("_offset") >= pc.min(offsets))
            & (pc.field("_offset") <= pc.max(offsets))
            & pc.field("_offset").isin(offsets)
        )
        where = here if where is None else where | here
    assert where is not None, "no keys"
    return where


def _by_partition(keys: pa.Table) -> Iterator[tuple[tuple[str, int], pa.Array]]:
    """(topic, partition) and its offsets, for each partition in ``keys``."""
    for group in keys.group_by(["_topic", "_partition"]).aggregate([]).to_pylist():
        mine = keys.filter(
            (pc.field("_topic") == group["_topic"])
            & (pc.field("_partition") == group["_partition"])
        )
        yield (group["_topic"], group["_partition"]), mine["_offset"].combine_chunks()


def _rows_at(tables: list[LakeTable], keys: pa.Table, columns: list[str]) -> Iterator[pa.Table]:
    """The letters at ``keys`` (with ``_source``), ``columns`` read, a batch at a time."""
    for source, table in enumerate(tables):
        mine = keys.filter(pc.field("_source") == source)
        if not mine.num_rows:
            continue
        rows = VALUE_READ_ROWS if "value" in columns else READ_ROWS
        yield from _batches(source, table, [*_KEY, *columns], _at(mine), rows)


def previews(tables: list[LakeTable], keys: pa.Table) -> dict[tuple[Any, ...], tuple[int, str]]:
    """(source, topic, partition, offset) -> (value bytes, hex of its first bytes).

    Lengths come from the binary column's offsets; only the previews become Python bytes.
    """
    found: dict[tuple[Any, ...], tuple[int, str]] = {}
    for rows in _rows_at(tables, keys, ["value"]):
        sizes = pc.fill_null(pc.binary_length(rows["value"]), 0).to_pylist()
        heads = pc.binary_slice(rows["value"], 0, PREVIEW_BYTES).to_pylist()
        where = zip(rows["_source"].to_pylist(), *(rows[c].to_pylist() for c in _KEY), strict=True)
        for at, size, head in zip(where, sizes, heads, strict=True):
            found[at] = (size, (head or b"").hex())
    return found


def replayed(ledger: ReplayLedger, keys: pa.Table) -> set[tuple[str, int, int]]:
    """The (topic, partition, offset) of ``keys`` the ledger has as replayed."""
    done = set()
    for (topic, partition), offsets in _by_partition(keys):
        status = ledger.statuses(topic, partition, offsets.to_pylist())
        done |= {(topic, partition, o) for o, s in status.items() if s == "done"}
    return done


def keys_of(tables: list[LakeTable], kind: str | None) -> pa.Table:
    """Where every letter is (with ``_source``), oldest first; no value is read.

    About 30 bytes a letter, so tens of millions fit.
    """
    pieces = []
    for batch in _scan(tables, _KEY, _of_kind(kind)):
        pieces.append(batch)
        if len(pieces) == 1024:  # thousands of small tables weigh more than their rows
            pieces = [pa.concat_tables(pieces).combine_chunks()]
    if not pieces:
        return pa.table({name: pa.array([], pa.int64()) for name in [*_KEY, "_source"]})
    keys = pa.concat_tables(pieces)
    return keys.take(pc.sort_indices(keys, _ORDER))


def _sized(tables: list[LakeTable], keys: pa.Table) -> pa.Table:
    """``keys`` with ``bytes``: the size of each value, read a batch at a time, oldest first."""
    pieces = []
    for rows in _rows_at(tables, keys, ["value"]):
        sizes = pc.fill_null(pc.binary_length(rows["value"]), 0)
        pieces.append(rows.drop_columns(["value"]).append_column("bytes", sizes))
    if not pieces:  # the letters are gone (the table was cleaned up meanwhile)
        return keys.slice(0, 0).append_column("bytes", pa.array([], pa.int32()))
    sized = pa.concat_tables(pieces)
    return sized.take(pc.sort_indices(sized, _ORDER))


def _partition_chunks(keys: pa.Table, rows: int, size: int) -> Iterator[pa.Table]:
    """Slices of sorted ``keys``, each of one partition, ``rows`` letters at most.

    With a ``bytes`` column, a slice also holds at most ``size`` bytes of values (a
    larger letter goes alone).
    """
    if not keys.num_rows:
        return
    topics, partitions = keys["_topic"].combine_chunks(), keys["_partition"].combine_chunks()
    moved = pc.or_(
        pc.not_equal(topics[1:], topics[:-1]), pc.not_equal(partitions[1:], partitions[:-1])
    )
    starts = np.flatnonzero(moved.to_numpy(zero_copy_only=False)) + 1
    bounds = [0, *(int(b) for b in starts), keys.num_rows]
    sized = "bytes" in keys.column_names
    sizes = keys["bytes"].to_numpy() if sized else np.zeros(0, np.int64)
    for first, end in itertools.pairwise(bounds):
        start = first
        while start < end:
            stop = min(start + rows, end)
            if sized:
                held = np.cumsum(sizes[start:stop])
                stop = start + max(1, int(np.searchsorted(held, size, side="right")))
            yield keys.slice(start, stop - start)
            start = stop


def not_replayed(ledger: ReplayLedger, keys: pa.Table, rows: int) -> Iterator[pa.Table]:
    """Chunks of ``keys`` (``rows`` at most) without the letters the ledger has as replayed.

    What a dry run counts: no value is read.
    """
    for chunk in _partition_chunks(keys, rows, 0):
        done = replayed(ledger, chunk)
        if done:
            at = zip(*(chunk[c].to_pylist() for c in _KEY), strict=True)
            chunk = chunk.filter(pa.array([k not in done for k in at], pa.bool_()))
        if chunk.num_rows:
            yield chunk


def letters(tables: list[LakeTable], ledger: ReplayLedger, keys: pa.Table) -> Iterator[Letter]:
    """The letters at ``keys`` not replayed yet, in order, their values read a chunk at a time.

    Letters already replayed are skipped unread: replaying again reads no value. The
    others' values are read twice: once to measure them into chunks, once to replay them.
    """
    rows, size = replaying.CHUNK_ROWS, replaying.CHUNK_BYTES
    for waiting in not_replayed(ledger, keys, rows):
        for chunk in _partition_chunks(_sized(tables, waiting), rows, size):
            pieces = list(_rows_at(tables, chunk, ["key", "value"]))
            if not pieces:
                continue
            for row in pa.concat_tables(pieces).sort_by(_ORDER).to_pylist():
                at = (row["_topic"], row["_partition"], row["_offset"])
                yield Letter(*at, row["key"], row["value"])
