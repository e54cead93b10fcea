"""``dead-letters list`` and ``replay`` read their tables a batch at a time, memory bounded.

Dead letters are committed to a real dead-letter table (across days, so that its files
are not in offset order); the commands run in-process with read batches and replay
chunks far smaller than the table, and must print what reading the whole table printed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner

import lakeforge.stream.dead_letter_scan as scan
from lakeforge.cli.main import cli
from lakeforge.profiles import open_local
from lakeforge.spec.load import load_pipeline
from lakeforge.stream import replay as replaying
from lakeforge.stream.dead_letters import (
    DEAD_LETTER_DAY_COLUMN,
    DEAD_LETTER_SCHEMA,
    dead_letter_table_name,
)
from lakeforge.stream.replay import ReplayLedger

DAY_US = 86_400_000_000
NEW_YEAR_US = 1_767_225_600_000_000  # 2026-01-01
KINDS = ["rule", "truncated", "bad_magic"]


def letters_batch(
    partition: int, offsets: list[int], values: list[bytes | None], day: int
) -> pa.Table:
    """Dead-letter rows of topic trades, failed on ``day`` (days after 2026-01-01)."""
    count = len(offsets)
    failed_at = NEW_YEAR_US + day * DAY_US
    return pa.table(
        {
            "_topic": ["trades"] * count,
            "_partition": pa.array([partition] * count, pa.int32()),
            "_offset": pa.array(offsets, pa.int64()),
            "_timestamp": pa.array([failed_at] * count, pa.timestamp("us", tz="UTC")),
            "key": pa.array([f"k{o % 5}".encode() for o in offsets], pa.binary()),
            "value": pa.array(values, pa.binary()),
            "error_kind": [KINDS[o % 3] for o in offsets],
            "reason": [f"reason of {partition}@{o}" for o in offsets],
            "_schema_id": pa.array([1] * count, pa.int32()),
            "failed_at": pa.array([failed_at] * count, pa.timestamp("us", tz="UTC")),
        },
        schema=DEAD_LETTER_SCHEMA,
    )


def commit_letters(folder: Path, batches: list[pa.Table]) -> None:
    """Commit each batch of dead letters to bronze.trades_dead_letters, as a runner does."""
    pipeline = load_pipeline(folder, environ={})
    with open_local(pipeline) as profile:
        table = profile.warehouse.table(
            dead_letter_table_name("trades"), DEAD_LETTER_SCHEMA, DEAD_LETTER_DAY_COLUMN
        )
        for batch in batches:
            partition = batch["_partition"][0].as_py()
            table.commit(batch, {partition: max(batch["_offset"].to_pylist()) + 1})


def many_letters(folder: Path) -> int:
    """144 small letters on 3 partitions in 36 commits; later offsets on earlier days."""
    rng = np.random.default_rng(7)
    batches = []
    for commit in range(12):
        for partition in range(3):
            offsets = [commit * 10 + step * 2 + partition for step in range(4)]
            values: list[bytes | None] = [
                None if o % 11 == 0 else rng.bytes(int(rng.integers(0, 40))) for o in offsets
            ]
            batches.append(letters_batch(partition, offsets, values, day=2 - commit % 3))
    commit_letters(folder, batches)
    return 144


def whole_table_listing(folder: Path, kind: str | None, limit: int) -> dict[str, Any]:
    """What ``list --json`` printed when it read the whole table: the expected output."""
    pipeline = load_pipeline(folder, environ={})
    with open_local(pipeline) as profile:
        letters = profile.warehouse.open_table(dead_letter_table_name("trades")).read("delta")
    ledger = ReplayLedger(pipeline.state_path / "replays.db")
    status = ledger.status("trades")
    ledger.close()
    rows = sorted(letters.to_pylist(), key=lambda r: (r["_partition"], r["_offset"]))
    rows = [r for r in rows if kind is None or r["error_kind"] == kind]
    return {
        "total": len(rows),
        "dead_letters": [
            {
                "topic": r["_topic"],
                "partition": r["_partition"],
                "offset": r["_offset"],
                "error_kind": r["error_kind"],
                "reason": r["reason"],
                "bytes": len(r["value"] or b""),
                "preview": (r["value"] or b"")[:16].hex(),
                "replayed": status.get((r["_partition"], r["_offset"])) == "done",
            }
            for r in rows[:limit]
        ],
    }


def run(folder: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, [*args, "--pipeline", str(folder)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def small_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read 7 rows (3 with values) at a time; replay 5 letters or 100 bytes at a time."""
    monkeypatch.setattr(scan, "READ_ROWS", 7)
    monkeypatch.setattr(scan, "VALUE_READ_ROWS", 3)
    monkeypatch.setattr(replaying, "CHUNK_ROWS", 5)
    monkeypatch.setattr(replaying, "CHUNK_BYTES", 100)


def log_values(folder: Path) -> dict[int, list[bytes | None]]:
    """The values on each partition of topic trades."""
    pipeline = load_pipeline(folder, environ={})
    values: dict[int, list[bytes | None]] = {}
    with open_local(pipeline) as profile:
        for partition, end in profile.bus.end_offsets("trades").items():
            values[partition] = []
            offset = 0
            while offset < end:
                fetched = profile.bus.fetch("trades", partition, offset, end - offset)
                values[partition] += fetched.records["value"].to_pylist()
                offset = fetched.next_offset
    return values


@pytest.mark.usefixtures("small_reads")
def test_list_in_batches_prints_what_reading_the_whole_table_printed(stocks: Path) -> None:
    total = many_letters(stocks)
    for kind, limit in [(None, 50), (None, 1000), ("rule", 9), ("truncated", 1), ("nope", 5)]:
        args = ["dead-letters", "list", "--limit", str(limit), "--json"]
        args += ["--kind", kind] if kind else []
        assert json.loads(run(stocks, *args)) == whole_table_listing(stocks, kind, limit)
    assert whole_table_listing(stocks, None, 1000)["total"] == total
    text = run(stocks, "dead-letters", "list", "--limit", "3", "--table", "trades")
    first = whole_table_listing(stocks, None, 3)["dead_letters"][0]
    assert text.splitlines()[0] == f"{total} dead letter(s)"
    assert text.splitlines()[1] == (
        f"  trades[0]@0 {first['error_kind']}: reason of 0@0 "
        f"[{first['bytes']} bytes {first['preview']}]"
    )
    assert len(text.splitlines()) == 4


@pytest.mark.usefixtures("small_reads")
def test_replay_in_chunks_appends_each_partition_in_offset_order_once(stocks: Path) -> None:
    total = many_letters(stocks)
    rules = whole_table_listing(stocks, "rule", 1000)["total"]
    assert run(stocks, "dead-letters", "replay", "--dry-run").startswith(
        f"would replay {total} of {total} dead letter(s)"
    )
    assert run(stocks, "dead-letters", "replay", "--kind", "rule").startswith(
        f"replayed {rules} dead letter(s); 0 had been replayed before."
    )
    assert run(stocks, "dead-letters", "replay", "--dry-run").startswith(
        f"would replay {total - rules} of {total} dead letter(s)"
    )
    assert run(stocks, "dead-letters", "replay").startswith(
        f"replayed {total - rules} dead letter(s); {rules} had been replayed before."
    )
    assert run(stocks, "dead-letters", "replay").startswith(
        f"replayed 0 dead letter(s); {total} had been replayed before."
    )

    pipeline = load_pipeline(stocks, environ={})
    with open_local(pipeline) as profile:
        table = profile.warehouse.open_table(dead_letter_table_name("trades")).read("delta")
    letters = sorted(table.to_pylist(), key=lambda r: (r["_partition"], r["_offset"]))
    log = log_values(stocks)
    for partition in range(3):
        mine = [r for r in letters if r["_partition"] == partition]
        rules_first = [r for r in mine if r["error_kind"] == "rule"]
        rules_first += [r for r in mine if r["error_kind"] != "rule"]
        assert log[partition] == [r["value"] for r in rules_first]  # each by offset, once
    assert log[3] == []
    listed = json.loads(run(stocks, "dead-letters", "list", "--limit", "1000", "--json"))
    assert all(row["replayed"] for row in listed["dead_letters"])


# --- memory ---------------------------------------------------------------------------

LETTERS = 1000
LETTER_BYTES = 64 * 1024
#: Run in a child process: Arrow's peak is per process and cannot be reset.
MEASURE = """
import json, os, sys, tracemalloc
import pyarrow as pa
import lakeforge.stream.dead_letter_scan as scan
from lakeforge.cli.main import cli
from lakeforge.stream import replay as replaying

scan.READ_ROWS = 4
scan.VALUE_READ_ROWS = 4
replaying.CHUNK_ROWS = 8
replaying.CHUNK_BYTES = 1 << 19
folder, *args = sys.argv[1:]
# Everything the command imports and opens, once, reading no value.
cli.main(["dead-letters", "list", "--kind", "none", "--pipeline", folder], standalone_mode=False)
tracemalloc.start()
cli.main([*args, "--pipeline", folder], standalone_mode=False)
arrow = pa.default_memory_pool().max_memory()
print(json.dumps({"arrow": arrow, "python": tracemalloc.get_traced_memory()[1]}), flush=True)
os._exit(0)  # as lakeforge's main does: Arrow's threads may abort a normal exit
"""


def large_letters(folder: Path) -> int:
    """1,000 letters of 64 KB (64 MB, incompressible), 5 a commit; their total bytes.

    Small files: a read holds a row group (here a file) whole, a few times over while it
    is decompressed and decoded, so the files must be far smaller than the table.
    """
    rng = np.random.default_rng(3)
    batches = []
    for commit in range(LETTERS // 5):
        partition = commit % 2
        offsets = [commit * 5 + step for step in range(5)]
        values: list[bytes | None] = [rng.bytes(LETTER_BYTES) for _ in offsets]
        batches.append(letters_batch(partition, offsets, values, day=commit % 2))
    commit_letters(folder, batches)
    return LETTERS * LETTER_BYTES


def peaks(folder: Path, *args: str) -> dict[str, int]:
    """Peak Arrow and Python (tracemalloc) memory of ``lakeforge ARGS`` in a child process."""
    command = [sys.executable, "-c", MEASURE, str(folder), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=True)
    result: dict[str, int] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_list_and_replay_hold_a_batch_of_values_not_the_table(stocks: Path) -> None:
    total = large_letters(stocks)
    bound = total // 10  # reads of 4 values, replay chunks of 8 (512 KB), files of 5
    for args in [
        ["dead-letters", "list", "--limit", "20", "--json"],
        ["dead-letters", "replay", "--dry-run"],
        ["dead-letters", "replay"],
    ]:
        measured = peaks(stocks, *args)
        assert measured["arrow"] < bound, (args, measured, total)
        assert measured["python"] < bound, (args, measured, total)
    log = log_values(stocks)
    assert [len(log[p]) for p in range(4)] == [LETTERS // 2, LETTERS // 2, 0, 0]
