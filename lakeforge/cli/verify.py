"""``lakeforge verify``: prove the log, Iceberg and Delta agree (exactly once)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from lakeforge.cli.common import json_option, load, pipeline_option, print_json
from lakeforge.profiles import open_profile
from lakeforge.verify import report_json, verify_pipeline


@click.command()
@pipeline_option
@json_option
def verify(pipeline_dir: Path, as_json: bool) -> None:
    """Compare, per partition, the log with the Iceberg and Delta tables.

    Exits non-zero when anything is lost, duplicated or differs between the formats.
    """
    pipeline = load(pipeline_dir)
    with open_profile(pipeline) as profile:
        checks = verify_pipeline(pipeline, profile)
    report = report_json(checks)
    if as_json:
        print_json(report)
    else:
        for check in checks:
            click.echo(f"{check.table} (topic {check.topic}): {'OK' if check.ok else 'FAILED'}")
            for part in check.partitions:
                ice, delta = part.accounts["iceberg"], part.accounts["delta"]
                state = "ok" if not part.problems else "; ".join(part.problems)
                click.echo(
                    f"  partition {part.partition}: position {part.position}/{part.log_end}, "
                    f"iceberg {ice.rows} rows + {ice.dead_letters} dead, "
                    f"delta {delta.rows} rows + {delta.dead_letters} dead: {state}"
                )
    if not report["ok"]:
        sys.exit(1)
