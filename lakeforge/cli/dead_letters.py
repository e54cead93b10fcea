"""``lakeforge dead-letters``: look at refused records and replay them after a fix."""

from __future__ import annotations

from pathlib import Path

import click
import pyarrow as pa
import pyarrow.compute as pc

from lakeforge.cli.common import json_option, load, pipeline_option, print_json
from lakeforge.errors import NotFoundError
from lakeforge.profiles import open_profile
from lakeforge.profiles.base import Profile
from lakeforge.spec.model import Pipeline
from lakeforge.stream.dead_letters import dead_letter_table_name
from lakeforge.stream.replay import Letter, ReplayLedger, replay


def _letters(pipeline: Pipeline, profile: Profile, table: str | None, kind: str | None) -> pa.Table:
    """Every dead letter of the chosen bronze table(s), oldest first."""
    names = [b.table for b in pipeline.bronze]
    if table is not None and table not in names:
        raise NotFoundError(f"no bronze table {table!r}", f"bronze tables: {', '.join(names)}")
    pieces = []
    for name in [table] if table else names:
        full = dead_letter_table_name(name)
        if full in {info.name for info in profile.warehouse.list_tables()}:
            pieces.append(profile.warehouse.open_table(full).read("delta"))
    if not pieces:
        return pa.table({})
    letters = pa.concat_tables(pieces)
    if kind is not None:
        letters = letters.filter(pc.equal(letters["error_kind"], kind))
    return letters.sort_by(
        [("_topic", "ascending"), ("_partition", "ascending"), ("_offset", "ascending")]
    )


@click.group("dead-letters")
def dead_letters() -> None:
    """Records that could not be decoded or broke a rule, with their raw bytes."""


@dead_letters.command("list")
@pipeline_option
@json_option
@click.option("--table", help="Only this bronze table's dead letters.")
@click.option("--kind", help="Only this error kind (e.g. truncated, rule, unknown_schema).")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
def list_letters(
    pipeline_dir: Path, as_json: bool, table: str | None, kind: str | None, limit: int
) -> None:
    """List dead letters, oldest first, with why each was refused."""
    pipeline = load(pipeline_dir)
    with open_profile(pipeline) as profile:
        letters = _letters(pipeline, profile, table, kind)
        ledger = ReplayLedger(pipeline.state_path / "replays.db")
        replayed = {t: ledger.status(t) for t in {topic.name for topic in pipeline.topics}}
        ledger.close()
    rows = []
    for row in letters.slice(0, limit).to_pylist() if letters.num_rows else []:
        value = row["value"] or b""
        rows.append(
            {
                "topic": row["_topic"],
                "partition": row["_partition"],
                "offset": row["_offset"],
                "error_kind": row["error_kind"],
                "reason": row["reason"],
                "bytes": len(value),
                "preview": value[:16].hex(),
                "replayed": replayed.get(row["_topic"], {}).get((row["_partition"], row["_offset"]))
                == "done",
            }
        )
    if as_json:
        print_json({"total": letters.num_rows, "dead_letters": rows})
        return
    click.echo(f"{letters.num_rows} dead letter(s)")
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
@click.option("--dry-run", is_flag=True, help="Say what would be replayed; send nothing.")
def replay_letters(pipeline_dir: Path, table: str | None, kind: str | None, dry_run: bool) -> None:
    """Append dead letters' raw bytes to their topic again, each one once."""
    pipeline = load(pipeline_dir)
    with open_profile(pipeline) as profile:
        letters = _letters(pipeline, profile, table, kind)
        todo = [
            Letter(r["_topic"], r["_partition"], r["_offset"], r["key"], r["value"])
            for r in (letters.to_pylist() if letters.num_rows else [])
        ]
        ledger = ReplayLedger(pipeline.state_path / "replays.db")
        try:
            if dry_run:
                done = {t: ledger.status(t) for t in {letter.topic for letter in todo}}
                waiting = [
                    letter
                    for letter in todo
                    if done[letter.topic].get((letter.partition, letter.offset)) != "done"
                ]
                click.echo(f"would replay {len(waiting)} of {len(todo)} dead letter(s)")
                return
            count = replay(profile.bus, ledger, todo)
        finally:
            ledger.close()
    click.echo(
        f"replayed {count} dead letter(s); {len(todo) - count} had been replayed before. "
        "The runner decodes them again: run 'lakeforge process --until-drained' "
        "if it is not running."
    )
