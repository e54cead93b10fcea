"""Produce messages to a topic: each goes to the partition its key chooses."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from lakeforge.bus.base import Bus, partitions_for_keys


def produce(
    bus: Bus,
    topic: str,
    values: pa.BinaryArray,
    keys: pa.BinaryArray | None,
    partitions: int,
) -> dict[int, tuple[int, int]]:
    """Append messages to the partitions their keys choose, keeping their order.

    ``partitions`` is the topic's partition count; without keys every message goes to
    partition 0, as a null key does. Returns, for each partition that got messages, the
    offsets of its first and last one. Each partition's share is one atomic append; a
    failure part-way leaves the shares appended before it in place.
    """
    if keys is not None and len(keys) != len(values):
        raise ValueError(f"{len(keys)} keys for {len(values)} values; give one key per value")
    if keys is None:
        return _append(bus, topic, 0, pa.table({"value": values}))
    targets = partitions_for_keys(keys, partitions)
    table = pa.table({"key": keys, "value": values})
    if len(targets) and (targets == targets[0]).all():
        return _append(bus, topic, int(targets[0]), table)
    # A stable sort groups each partition's messages and keeps them in their order;
    # on 16-bit integers NumPy sorts by radix, 3-4 times faster than on int32.
    narrow = targets.astype(np.uint16) if partitions <= 1 << 16 else targets
    order = np.argsort(narrow, kind="stable")
    grouped = table.take(pa.array(order))
    counts = np.bincount(targets, minlength=partitions)
    appended: dict[int, tuple[int, int]] = {}
    start = 0
    for partition, count in enumerate(counts.tolist()):
        if count:
            piece = grouped.slice(start, count)
            appended |= _append(bus, topic, partition, piece)
            start += count
    return appended


def _append(bus: Bus, topic: str, partition: int, table: pa.Table) -> dict[int, tuple[int, int]]:
    if table.num_rows == 0:
        return {}
    first = bus.append(topic, partition, table)
    return {partition: (first, first + table.num_rows - 1)}
