"""Rows and schemas the lake tests share (importable by child processes too)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pyarrow as pa

#: A trade-like table: the source position, then the payload.
SCHEMA = pa.schema(
    [
        ("_partition", pa.int32()),
        ("_offset", pa.int64()),
        ("symbol", pa.string()),
        ("price", pa.float64()),
        ("size", pa.int32()),
        ("conditions", pa.list_(pa.string())),
        ("event_time", pa.timestamp("us", tz="UTC")),
    ]
)
_START = datetime(2026, 1, 2, 14, 30, tzinfo=UTC)


def trades(partition: int, start: int, count: int) -> pa.Table:
    """``count`` rows of one partition at offsets ``start ..``, deterministic by offset."""
    offsets = range(start, start + count)
    return pa.table(
        {
            "_partition": pa.array([partition] * count, pa.int32()),
            "_offset": pa.array(offsets, pa.int64()),
            "symbol": [("AAPL", "MSFT", "NVDA")[o % 3] for o in offsets],
            "price": [100 + o / 100 for o in offsets],
            "size": pa.array([o % 500 + 1 for o in offsets], pa.int32()),
            "conditions": [["@", "I"] if o % 2 else [] for o in offsets],
            "event_time": [_START + timedelta(milliseconds=o) for o in offsets],
        },
        schema=SCHEMA,
    )


#: A bronze-like table partitioned by the day of ``_ingested_at``.
DAY_COLUMN = "_ingested_at"
SCHEMA_BY_DAY = SCHEMA.append(pa.field(DAY_COLUMN, pa.timestamp("us", tz="UTC"), nullable=False))


def trades_ingested(start: int, count: int, *moments: datetime) -> pa.Table:
    """Trades of partition 0 at offsets ``start ..``, ingested at ``moments`` in turn:
    the first rows at the first moment, the rest spread evenly over the others."""
    rows = trades(0, start, count)
    share = -(-count // len(moments))
    ingested = [moments[min(i // share, len(moments) - 1)] for i in range(count)]
    return rows.append_column(
        SCHEMA_BY_DAY.field(DAY_COLUMN), pa.array(ingested, pa.timestamp("us", tz="UTC"))
    )


def next_positions(rows: pa.Table) -> dict[int, int]:
    """Each partition's last offset + 1."""
    result: dict[int, int] = {}
    for p, o in zip(rows["_partition"].to_pylist(), rows["_offset"].to_pylist(), strict=True):
        result[p] = max(result.get(p, 0), o + 1)
    return result


def in_order(table: pa.Table) -> pa.Table:
    """Rows sorted by source position, for comparing tables read in any order."""
    return table.sort_by([("_partition", "ascending"), ("_offset", "ascending")])


def positions_of(table: pa.Table) -> list[tuple[int, int]]:
    """Every (partition, offset) pair, sorted: duplicates show up as repeats."""
    pairs = zip(table["_partition"].to_pylist(), table["_offset"].to_pylist(), strict=True)
    return sorted(pairs)


def errors_when_raced(threads: int, work: Callable[[threading.Barrier], object]) -> list[str]:
    """Run ``work`` in ``threads`` threads at once; the errors they raised, with their types.

    Each ``work`` calls ``ready.wait()`` where the race should start, so that what comes
    before (opening a warehouse, say) does not spread the threads apart. A thread that
    fails before it gets there breaks the barrier (after a minute at most) rather than
    leaving the others waiting for ever.
    """
    ready = threading.Barrier(threads, timeout=60)
    errors: list[str] = []

    def one() -> None:
        try:
            work(ready)
        except Exception as error:  # reported by the test, with its type
            errors.append(f"{type(error).__name__}: {error}")

    running = [threading.Thread(target=one) for _ in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join()
    return errors
