"""Running ``dbt build`` in this process through dbt's programmatic API.

Only this module knows dbt's Python API: it turns a build into :class:`NodeResult`s.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dbt.cli.main import dbtRunner

from lakeforge.errors import TerminalError
from lakeforge.transform.project import TransformPaths


@dataclass(frozen=True)
class NodeResult:
    """One node of a build, as dbt reported it."""

    unique_id: str
    kind: str
    name: str
    schema: str
    status: str
    seconds: float
    message: str | None
    materialized: str | None
    incremental_strategy: str | None


#: The environment variable carrying the run number into the models (see RUN_COLUMN).
RUN_VARIABLE = "LAKEFORGE_TRANSFORM_RUN"


def dbt_build(
    paths: TransformPaths,
    run: int,
    *,
    threads: int,
    full_refresh: bool = False,
    select: str | None = None,
    on_node: Callable[[NodeResult], None] | None = None,
) -> list[NodeResult]:
    """Run ``dbt build`` on the project and return every node's result.

    Raises :class:`~lakeforge.errors.TerminalError` when dbt could not run at all (a
    project that does not parse, a broken profile); failing models and tests are
    results, not exceptions.
    """
    # dbt would otherwise phone home (usage statistics, version check): no network here.
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    # Not a dbt var: a var that changes makes dbt parse the whole project again each run.
    os.environ[RUN_VARIABLE] = str(run)
    args = [
        "build",
        "--project-dir",
        str(paths.project),
        "--profiles-dir",
        str(paths.profiles_dir),
        "--target-path",
        str(paths.target),
        "--log-path",
        str(paths.logs),
        "--threads",
        str(threads),
        "--no-version-check",
        "--no-use-colors",
        "--log-level",
        "none",
        "--log-level-file",
        "debug",
    ]
    if full_refresh:
        args.append("--full-refresh")
    if select:
        args += ["--select", select]

    def on_event(event: Any) -> None:
        if on_node is not None and event.info.name == "NodeFinished":
            on_node(_node_result(event.data.run_result, event.data.node_info))

    outcome = dbtRunner(callbacks=[on_event]).invoke(args)
    results = getattr(outcome.result, "results", None)
    if outcome.exception is not None or results is None:
        raise TerminalError(
            f"dbt could not build the project {paths.project}: {outcome.exception}",
            hint=f"run `lakeforge check`; dbt's log is {paths.logs / 'dbt.log'}",
        )
    return [_result(r) for r in results]


def _result(result: Any) -> NodeResult:
    node = result.node
    config = node.config
    return NodeResult(
        unique_id=node.unique_id,
        kind=str(node.resource_type),
        name=node.name,
        schema=node.schema,
        status=str(result.status),
        seconds=float(result.execution_time or 0.0),
        message=result.message,
        materialized=getattr(config, "materialized", None),
        incremental_strategy=getattr(config, "incremental_strategy", None),
    )


def _node_result(run_result: Any, node_info: Any) -> NodeResult:
    return NodeResult(
        unique_id=node_info.unique_id,
        kind=node_info.resource_type,
        name=node_info.node_name,
        schema="",
        status=run_result.status,
        seconds=float(run_result.execution_time or 0.0),
        message=run_result.message or None,
        materialized=node_info.materialized or None,
        incremental_strategy=None,
    )
