"""``lakeforge tables``: every table of the lake, its layer, formats and locations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from lakeforge.cli.common import json_option, load, pipeline_option, print_json
from lakeforge.profiles import open_profile
from lakeforge.stream.dead_letters import is_dead_letter_table


@click.command()
@pipeline_option
@json_option
def tables(pipeline_dir: Path, as_json: bool) -> None:
    """List every table: name, layer, format and location."""
    pipeline = load(pipeline_dir)
    with open_profile(pipeline) as profile:
        infos = profile.warehouse.list_tables()
    rows: list[dict[str, Any]] = []
    for info in infos:
        layer = info.name.split(".", 1)[0]
        rows.append(
            {
                "name": info.name,
                "layer": layer,
                "kind": "dead_letters" if is_dead_letter_table(info.name) else "table",
                "rows": info.rows,
                "partitioned_by": (
                    f"day({info.partition_by_day})" if info.partition_by_day else None
                ),
                "formats": [
                    {"format": "iceberg", "location": info.iceberg_metadata_location},
                    *(
                        [{"format": "delta", "location": info.delta_location}]
                        if info.delta_location
                        else []
                    ),
                ],
            }
        )
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo("no tables yet: run 'lakeforge process' or 'lakeforge run' first")
    for row in rows:
        partitioning = f", partitioned by {row['partitioned_by']}" if row["partitioned_by"] else ""
        click.echo(f"{row['name']} ({row['layer']}, {row['rows']:,} rows{partitioning})")
        for fmt in row["formats"]:
            click.echo(f"  {fmt['format']:8} {fmt['location']}")
