"""``lakeforge dead-letters``: look at refused records and replay them after a fix.

Neither command reads a dead-letter table whole: see
:mod:`lakeforge.stream.dead_letter_scan` for what each holds in memory.
"""

from __future__ import annotations

from pathlib import Path

import click

from lakeforge.cli.common import json_option, load, pipeline_option, print_json
from lakeforge.errors import NotFoundError
from lakeforge.lake.table import LakeTable
from lakeforge.profiles import open_profile
from lakeforge.profiles.base import Profile
from lakeforge.spec.model import Pipeline
from lakeforge.stream import dead_letter_scan as scan
from lakeforge.stream import replay as replaying
from lakeforge.stream.dead_letters import dead_letter_table_name
from lakeforge.stream.replay import ReplayLedger, replay


def _tables(pipeline: Pipeline, profile: Profile, table: str | None) -> list[LakeTable]:
    """The dead-letter tables of the chosen bronze table(s), those that exist."""
    names = [b.table for b in pipeline.bronze]
    if table is not None and table not in names:
        raise NotFoundError(f"no bronze table {table!r}", f"bronze tables: {', '.join(names)}")
    existing = {info.name for info in profile.warehouse.list_tables()}
    full = [dead_letter_table_name(name) for name in ([table] if table else names)]
    return [profile.warehouse.open_table(name) for name in full if name in existing]


@click.group("dead-letters")
def dead_letters() -> None:
    """Records that could not be decoded or broke a rule, with their raw bytes.

    Each bronze table keeps its dead letters in a table of their own
    (bronze.<table>_dead_letters): where each came from, why it was refused, and the
    message exactly as it was on the bus, so that it can be replayed after a fix.
    """


@dead_letters.command("list")
@pipeline_option
@json_option
@click.option("--table", help="Only this bronze table's dead letters.")
@click.option("--kind", help="Only this error kind (e.g. truncated, rule, unknown_schema).")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="Show the oldest this many; the count covers them all.",
)
def list_letters(
    pipeline_dir: Path, as_json: bool, table: str | None, kind: str | None, limit: int
) -> None:
    """List dead letters, oldest first, with why each was refused.

    Shows the total count and the oldest --limit letters (topic, partition and offset
    order), each with its size, its first 16 bytes in hex, and whether it was replayed.
    Memory stays small however many letters there are.
    """
    pipeline = load(pipeline_dir)
    with open_profile(pipeline) as profile:
        tables = _tables(pipeline, profile, table)
        total, kept = scan.oldest(tables, kind, limit)
        previews = scan.previews(tables, kept) if kept.num_rows else {}
        ledger = ReplayLedger(pipeline.state_path / "replays.db")
        try:
            replayed = scan.replayed(ledger, kept) if kept.num_rows else set()
        finally:
            ledger.close()
    rows = []
    for row in kept.to_pylist():
        at = (row["_topic"], row["_partition"], row["_offset"])
        size, preview = previews.get((row["_source"], *at), (0, ""))
        rows.append(
            {
                "topic": row["_topic"],
                "partition": row["_partition"],
                "offset": row["_offset"],
                "error_kind": row["error_kind"],
                "reason": row["reason"],
                "bytes": size,
                "preview": preview,
                "replayed": at in replayed,
            }
        )
    if as_json:
        print_json({"total": total, "dead_letters": rows})
        return
    click.echo(f"{total} dead letter(s)")
    for row in rows:
        mark = " (replayed)" if row["replayed"] else ""
        click.echo(
            f"  {row['topic']}[{row['partition']}]@{row['offset']} {row['error_kind']}: "
            f"{row['reason']} [{row['bytes']} bytes {row['preview']}]{mark}"
        )


@dead_letters.command("replay")
@pipeline_option
@click.option("--table", help="Only this bronze table's dead letters.")
@click.option("--kind", help="Only this error kind.")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Count what would be replayed; send nothing (reads no message bytes).",
)
def replay_letters(pipeline_dir: Path, table: str | None, kind: str | None, dry_run: bool) -> None:
    """Append dead letters' raw bytes to their topic again, each one once.

    Letters go back to the partition they came from, oldest first, so a key keeps its
    order; the runner then decodes them anew. A ledger (replays.db in the state
    directory) makes a second replay, or one after a crash, send nothing twice.
    """
    pipeline = load(pipeline_dir)
    with open_profile(pipeline) as profile:
        tables = _tables(pipeline, profile, table)
        keys = scan.keys_of(tables, kind)
        ledger = ReplayLedger(pipeline.state_path / "replays.db")
        try:
            if dry_run:
                waiting = sum(
                    c.num_rows for c in scan.not_replayed(ledger, keys, replaying.CHUNK_ROWS)
                )
                click.echo(f"would replay {waiting} of {keys.num_rows} dead letter(s)")
                return
            letters = scan.letters(tables, ledger, keys)
            rows, size = replaying.CHUNK_ROWS, replaying.CHUNK_BYTES
            count = replay(profile.bus, ledger, letters, rows, size)
        finally:
            ledger.close()
    click.echo(
        f"replayed {count} dead letter(s); {keys.num_rows - count} had been replayed before. "
        "The runner decodes them again: run 'lakeforge process --until-drained' "
        "if it is not running."
    )
