"""A writer process for the lake tests: ``python -m tests.lake.child <mode> <root> ...``.

``commit <root> <table> <partition> <start> <count>`` commits one batch (set
LAKEFORGE_LAKE_CRASH_AFTER to be killed mid-commit); ``runner <root> <table> <end>
<batch> <start_at>`` behaves as a stream runner would, from the time ``start_at`` on:
read the stored position, commit the next ``batch`` offsets, until ``end`` is stored,
surviving a concurrent writer. It prints how often the other writer got there first.
``commit-by-day <root> <table> <start> <count> <YYYY-MM-DD>`` commits one batch of
partition 0, ingested on that day, to a table partitioned by day.
``compact <root> <table> <until_position>`` compacts every small file, again and again,
until the table's position reaches ``until_position``; it prints its compaction count.
``compact-all <root> <table>`` compacts every live file of an existing table once.

:func:`killed_in_child` runs one of these with LAKEFORGE_LAKE_CRASH_AFTER set.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from lakeforge.lake import CommitConflictError, PositionsError, Warehouse
from lakeforge.lake.maintain import MIB, plan_compaction
from lakeforge.lake.table import CRASH_ENV
from tests.lake.tables import DAY_COLUMN, SCHEMA, SCHEMA_BY_DAY, trades, trades_ingested


def commit(root: str, name: str, partition: int, start: int, count: int) -> None:
    """Commit one batch of trades."""
    table = Warehouse(root).table(name, SCHEMA)
    table.commit(trades(partition, start, count), {partition: start + count})


def commit_by_day(root: str, name: str, start: int, count: int, day: str) -> None:
    """Commit one batch to a table partitioned by day, ingested at noon of ``day``."""
    table = Warehouse(root).table(name, SCHEMA_BY_DAY, DAY_COLUMN)
    moment = datetime.fromisoformat(f"{day}T12:00:00+00:00")
    table.commit(trades_ingested(start, count, moment), {0: start + count})


def runner(root: str, name: str, end: int, batch: int, start_at: float) -> None:
    """Commit partition 0 up to ``end`` in ``batch``-offset steps, resuming from the table."""
    table = Warehouse(root).table(name, SCHEMA)
    time.sleep(max(start_at - time.time(), 0))  # both writers start together
    conflicts = behind = 0
    while (position := table.positions().get(0, 0)) < end:
        count = min(batch, end - position)
        try:
            table.commit(trades(0, position, count), {0: position + count})
        except CommitConflictError:
            conflicts += 1  # the other writer kept committing first: read the position again
        except PositionsError:
            behind += 1  # the other writer stored past this whole batch
    print(conflicts, behind)


def compact(root: str, name: str, until: int) -> None:
    """Compact the table's small files over and over while another process commits."""
    table = Warehouse(root).table(name, SCHEMA)
    compactions = 0
    while True:
        done = table.positions().get(0, 0) >= until
        for group in plan_compaction(table.live_files(), 64 * MIB):
            if table.compact([f.path for f in group]) is not None:
                compactions += 1
        if done:
            break
    print(compactions)


def compact_all(root: str, name: str) -> None:
    """Compact every live file of an existing table, whatever its schema, in one go."""
    table = Warehouse(root).open_table(name)
    table.compact([f.path for f in table.live_files()])


def killed_in_child(args: list[str], crash_after: str | None, timeout: float = 120) -> int:
    """Run ``python -m tests.lake.child *args``, killed at ``crash_after``; its exit code.

    ``crash_after`` names the step of a commit after which the child kills itself
    (see ``CRASH_ENV`` in lakeforge.lake.table); None lets it finish.
    """
    env = dict(os.environ)
    if crash_after is not None:
        env[CRASH_ENV] = crash_after
    command = [sys.executable, "-m", "tests.lake.child", *args]
    root = Path(__file__).resolve().parents[2]
    return subprocess.run(command, cwd=root, env=env, timeout=timeout, check=False).returncode


if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "commit":
        commit(args[0], args[1], int(args[2]), int(args[3]), int(args[4]))
    elif mode == "commit-by-day":
        commit_by_day(args[0], args[1], int(args[2]), int(args[3]), args[4])
    elif mode == "compact":
        compact(args[0], args[1], int(args[2]))
    elif mode == "compact-all":
        compact_all(args[0], args[1])
    else:
        runner(args[0], args[1], int(args[2]), int(args[3]), float(args[4]))
