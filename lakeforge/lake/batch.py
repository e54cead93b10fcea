"""The record each commit stores in both logs, and the position arithmetic behind it.

One commit = one *batch*: a sequence number (1, 2, 3, ... per table), the full map of
source positions after it (partition -> next offset), the data files it added and the
caller's properties. A compaction is a batch too: it adds one file holding the rows of
the files it *removes*, and leaves the positions as they were. The same flat string
map goes into Delta's commit info and into Iceberg's snapshot summary, so either log
alone tells what was consumed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from lakeforge.errors import ConfigError
from lakeforge.lake.base import OFFSET_COLUMN, PARTITION_COLUMN, PositionsError

SEQUENCE_KEY = "lakeforge.sequence"
POSITIONS_KEY = "lakeforge.positions"
FILES_KEY = "lakeforge.files"
REMOVED_KEY = "lakeforge.removed"
#: Which keys of the stored map are the caller's properties.
PROPERTY_NAMES_KEY = "lakeforge.properties"
RESERVED_KEYS = frozenset({SEQUENCE_KEY, POSITIONS_KEY, FILES_KEY, REMOVED_KEY, PROPERTY_NAMES_KEY})


@dataclass(frozen=True)
class BatchRecord:
    """What one commit stored, as both logs carry it."""

    sequence: int
    positions: dict[int, int]
    files: tuple[str, ...] = ()
    properties: dict[str, str] = field(default_factory=dict)
    #: Data files this batch takes out of the table (a compaction); their rows are in
    #: ``files``.
    removed: tuple[str, ...] = ()

    def to_properties(self) -> dict[str, str]:
        """The flat string map written to Delta commit info and Iceberg summaries."""
        stored = {
            **self.properties,
            SEQUENCE_KEY: str(self.sequence),
            POSITIONS_KEY: encode_positions(self.positions),
            FILES_KEY: json.dumps(list(self.files)),
            PROPERTY_NAMES_KEY: json.dumps(sorted(self.properties)),
        }
        if self.removed:
            stored[REMOVED_KEY] = json.dumps(list(self.removed))
        return stored

    @classmethod
    def from_properties(cls, stored: Mapping[str, Any]) -> BatchRecord | None:
        """Parse a stored map; ``None`` when it is not a lakeforge commit."""
        if SEQUENCE_KEY not in stored:
            return None
        names = json.loads(stored.get(PROPERTY_NAMES_KEY, "[]"))
        return cls(
            sequence=int(stored[SEQUENCE_KEY]),
            positions=decode_positions(stored.get(POSITIONS_KEY, "{}")),
            files=tuple(json.loads(stored.get(FILES_KEY, "[]"))),
            properties={n: str(stored[n]) for n in names if n in stored},
            removed=tuple(json.loads(stored.get(REMOVED_KEY, "[]"))),
        )


def encode_positions(positions: Mapping[int, int]) -> str:
    """Positions as compact JSON with partitions in order: ``{"0":12,"1":40}``."""
    return json.dumps({str(p): o for p, o in sorted(positions.items())}, separators=(",", ":"))


def decode_positions(text: str) -> dict[int, int]:
    """The inverse of :func:`encode_positions`."""
    return {int(p): int(o) for p, o in json.loads(text).items()}


def check_properties(properties: Mapping[str, str]) -> dict[str, str]:
    """Check the caller's commit properties; return them as a plain dict.

    Keys must be namespaced (``lakeforge.max_event_time``, ``myapp.run``): both formats
    write un-dotted keys of their own into the same map (``operation``,
    ``total-records``, ``timestamp``), which a property must never shadow.
    """
    for key, value in properties.items():
        if not isinstance(key, str) or "." not in key.strip(".") or key.startswith("partitions."):
            raise ConfigError(
                f"commit property {key!r} is not a namespaced key",
                hint="name properties like 'lakeforge.max_event_time' or 'myapp.note'",
            )
        if key in RESERVED_KEYS:
            raise ConfigError(f"commit property {key!r} is reserved for lakeforge's own use")
        if not isinstance(value, str):
            raise ConfigError(
                f"commit property {key!r} must be a string, not {type(value).__name__}"
            )
    return dict(properties)


def check_positions(positions: Mapping[int, int]) -> dict[int, int]:
    """Check that positions map partitions (int >= 0) to offsets (int >= 0)."""
    for p, o in positions.items():
        if type(p) is not int or type(o) is not int or not 0 <= p < 2**31 or o < 0:
            raise PositionsError(
                f"position {p!r}: {o!r} is not a partition number mapped to an offset",
                hint="positions map each source partition (int >= 0) to the next offset to read",
            )
    return dict(positions)


def merge_positions(
    stored: Mapping[int, int], new: Mapping[int, int], shared: bool = False
) -> dict[int, int]:
    """The stored positions updated by ``new``; raise if any would go backwards.

    With ``shared`` (several runners share the source's partitions), a position behind
    the stored one is not an error: the partition moved to another runner, which stored
    more since. The stored position is kept; it is always the furthest.
    """
    if shared:
        return {**stored, **{p: o for p, o in new.items() if o > stored.get(p, -1)}}
    for p, o in sorted(new.items()):
        if o < stored.get(p, 0):
            raise PositionsError(
                f"partition {p}: asked to store offset {o}, but {stored[p]} is already stored",
                hint="positions never go backwards; another writer may be running on this table",
            )
    return {**stored, **new}


def drop_stored_rows(rows: pa.Table, stored: Mapping[int, int]) -> pa.Table:
    """Drop the rows whose offset is below the stored position of their partition.

    This is what makes a commit exactly once whatever the caller's batching: a batch
    read again after a crash, or overlapping another writer's, adds only new rows.
    """
    if not stored or rows.num_rows == 0:
        return rows
    limits = _limits(rows, stored).fill_null(0)
    keep = pc.greater_equal(rows.column(OFFSET_COLUMN), limits)
    # The usual batch has nothing stored yet: skip copying it.
    return rows if pc.all(keep).as_py() else rows.filter(keep)


def check_rows_within(rows: pa.Table, positions: Mapping[int, int]) -> None:
    """Check that every row lies below the position it is committed with.

    A row at or past its partition's new position would be read again after a restart
    and stored twice, so such a commit is refused.
    """
    if rows.num_rows == 0:
        return
    limits = _limits(rows, positions)
    if limits.null_count:
        orphans = pc.unique(pc.filter(rows.column(PARTITION_COLUMN), pc.is_null(limits)))
        raise PositionsError(
            f"rows of partitions {sorted(orphans.to_pylist())} have no position to commit with",
            hint="pass the next offset of every partition the rows come from",
        )
    beyond = pc.greater_equal(rows.column(OFFSET_COLUMN), limits)
    if pc.any(beyond).as_py():
        first = rows.filter(beyond).slice(0, 1).to_pylist()[0]
        p, o = first[PARTITION_COLUMN], first[OFFSET_COLUMN]
        raise PositionsError(
            f"partition {p}: a row has offset {o}, at or past the position {positions[p]} "
            "it is committed with",
            hint="a position is the next offset to read: the last row's offset + 1",
        )


def _limits(rows: pa.Table, positions: Mapping[int, int]) -> pa.ChunkedArray:
    """Each row's partition position; null where its partition has none."""
    partitions = sorted(positions)
    keys = pa.array(partitions, pa.int32())
    values = pa.array([positions[p] for p in partitions], pa.int64())
    index = pc.index_in(rows.column(PARTITION_COLUMN), value_set=keys)
    return pc.take(values, index)
