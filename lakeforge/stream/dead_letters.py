"""Dead letters: records that could not be decoded or broke a rule, kept whole.

A dead letter holds the message's raw bytes exactly as they were on the bus, so that it
can be replayed after a fix, plus where it came from and why it was refused.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

#: The schema of every dead-letter table.
DEAD_LETTER_SCHEMA = pa.schema(
    [
        pa.field("_topic", pa.string(), nullable=False),
        pa.field("_partition", pa.int32(), nullable=False),
        pa.field("_offset", pa.int64(), nullable=False),
        pa.field("_timestamp", pa.timestamp("us", tz="UTC")),
        pa.field("key", pa.binary()),
        pa.field("value", pa.binary()),
        pa.field("error_kind", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("_schema_id", pa.int32()),
        pa.field("failed_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)
#: Dead letters are partitioned by the day they failed, as bronze is by ingestion day.
DEAD_LETTER_DAY_COLUMN = "failed_at"


#: Every bronze table, and its dead letters, live in this catalog namespace.
BRONZE_NAMESPACE = "bronze"
_DEAD_LETTERS_SUFFIX = "_dead_letters"


def bronze_table_name(table: str) -> str:
    """The catalog name of the bronze table ``table`` (as pipeline.yaml names it)."""
    return f"{BRONZE_NAMESPACE}.{table}"


def dead_letter_table_name(table: str) -> str:
    """The catalog name of the dead-letter table that goes with bronze table ``table``."""
    return f"{BRONZE_NAMESPACE}.{table}{_DEAD_LETTERS_SUFFIX}"


def is_dead_letter_table(name: str) -> bool:
    """Whether the catalog name ``name`` is a dead-letter table."""
    return name.startswith(f"{BRONZE_NAMESPACE}.") and name.endswith(_DEAD_LETTERS_SUFFIX)


def dead_letters(
    topic: str,
    messages: pa.Table,
    rows: np.ndarray,
    kinds: list[str],
    reasons: list[str],
    schema_ids: np.ndarray | None,
    failed_at_us: int,
) -> pa.Table:
    """Build dead-letter rows for ``rows`` (positions in ``messages``).

    ``messages`` has the columns ``partition``, ``offset``, ``timestamp``, ``key`` and
    ``value`` of the fetched batch.
    """
    picked = messages.take(pa.array(rows, pa.int64()))
    count = len(rows)
    ids = (
        pa.nulls(count, pa.int32())
        if schema_ids is None
        else pa.array(schema_ids, pa.int32(), mask=schema_ids < 0)
    )
    return pa.Table.from_arrays(
        [
            pa.array([topic] * count, pa.string()),
            picked["partition"],
            picked["offset"],
            picked["timestamp"].cast(pa.timestamp("us", tz="UTC")),
            picked["key"],
            picked["value"],
            pa.array(kinds, pa.string()),
            pa.array(reasons, pa.string()),
            ids,
            pa.array(np.full(count, failed_at_us, dtype=np.int64), pa.timestamp("us", tz="UTC")),
        ],
        schema=DEAD_LETTER_SCHEMA,
    )
