"""A transform: pin bronze, ``dbt build``, publish what was built, report.

The working database holds dbt's state between runs (incremental models read it); the
lake holds the published result. A failed model leaves its lake table as it was, and
the next run picks up from what the lake and the working database hold.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import duckdb

from lakeforge.errors import LakeforgeError
from lakeforge.lake import Warehouse
from lakeforge.observe import observe_gold_freshness, observe_transform
from lakeforge.profiles import local_warehouse
from lakeforge.serve.database import (
    create_views,
    serving_database_path,
    write_serving_database,
)
from lakeforge.serve.extensions import load_lake_extensions
from lakeforge.spec.model import Pipeline
from lakeforge.stream.lock import PipelineLock
from lakeforge.transform.bronze_views import pinned_bronze_views
from lakeforge.transform.dbt_build import NodeResult, dbt_build
from lakeforge.transform.freshness import gold_freshness
from lakeforge.transform.project import transform_paths, write_profile
from lakeforge.transform.publish import BuiltModel, publish, working_database_runs
from lakeforge.transform.report import (
    ModelReport,
    TransformReport,
    append_history,
    last_run_number,
)

#: Materialisations that leave a table to publish (views and ephemeral models do not).
PUBLISHED_MATERIALIZATIONS = ("table", "incremental")


class Transformer:
    """Builds and publishes one pipeline's silver and gold layers."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.paths = transform_paths(pipeline)
        assert pipeline.transform is not None  # transform_paths checked it
        self.threads = pipeline.transform.threads

    def run(
        self,
        *,
        full_refresh: bool = False,
        select: str | None = None,
        on_node: Callable[[NodeResult], None] | None = None,
    ) -> TransformReport:
        """Run one transform and return its report (also saved as ``last_run.json``).

        Failing models and tests are in the report, not raised; a transform that cannot
        start (no bronze yet, another transform running) raises.
        """
        started = datetime.now(UTC)
        clock = time.monotonic()
        with (
            PipelineLock(self.paths.lock, f"a transform of {self.pipeline.name!r}"),
            local_warehouse(self.pipeline) as warehouse,
        ):
            run = self._next_run(warehouse)
            write_profile(self.paths, self.threads)
            self._pin_bronze(warehouse)
            results = dbt_build(
                self.paths,
                run,
                threads=self.threads,
                full_refresh=full_refresh,
                select=select,
                on_node=on_node,
            )
            reports, error = self._publish(warehouse, results, run)
            freshness = self._freshness(reports, run)
            self._refresh_serving_database(warehouse)
        failed = [r for r in reports if r.failed]
        if failed and error is None:
            error = "; ".join(f"{r.name}: {r.status}: {r.message}" for r in failed[:5])
        report = TransformReport(
            run=run,
            status="error" if error else "success",
            started_at=started.isoformat(),
            finished_at=datetime.now(UTC).isoformat(),
            duration_seconds=round(time.monotonic() - clock, 3),
            models=tuple(reports),
            error=error,
            gold_freshness_seconds=freshness,
            log_file=str(self.paths.logs / "dbt.log"),
        )
        report.save(self.paths.last_run)
        append_history(report, self.paths.history)
        observe_transform(self.pipeline.name, report.duration_seconds, report.ok)
        if freshness:
            observe_gold_freshness(self.pipeline.name, freshness["max"])
        return report

    def _freshness(self, reports: list[ModelReport], run: int) -> dict[str, float]:
        settings = self.pipeline.transform
        if settings is None or settings.freshness_model is None:
            return {}
        if not any(r.kind == "model" and r.rows for r in reports):
            return {}
        return gold_freshness(
            self.paths.database, run, settings.freshness_model, settings.freshness_column
        )

    def _next_run(self, warehouse: Warehouse) -> int:
        """One more than any run recorded anywhere, so run numbers only ever grow."""
        published = [
            warehouse.published_table(info.name).last_run
            for info in warehouse.list_tables()
            if info.delta_location is None
        ]
        return 1 + max(
            [
                last_run_number(self.paths.last_run),
                working_database_runs(self.paths.database),
                *published,
            ]
        )

    def _pin_bronze(self, warehouse: Warehouse) -> None:
        views = pinned_bronze_views(self.pipeline, warehouse, self.pipeline.pinned_path)
        connection = duckdb.connect(str(self.paths.database))
        try:
            load_lake_extensions(connection)
            create_views(connection, views)
        finally:
            connection.close()

    def _publish(
        self, warehouse: Warehouse, results: list[NodeResult], run: int
    ) -> tuple[list[ModelReport], str | None]:
        reports = []
        error = None
        connection = duckdb.connect(str(self.paths.database))
        try:
            load_lake_extensions(connection)
            for result in results:
                rows = None
                name = result.name
                if result.kind == "model":
                    model = BuiltModel(
                        result.schema, result.name, result.incremental_strategy == "append"
                    )
                    name = model.table
                    published = result.materialized in PUBLISHED_MATERIALIZATIONS
                    if result.status == "success" and published and error is None:
                        try:
                            rows = publish(connection, warehouse, model, run)
                        except LakeforgeError as e:
                            error = f"publishing {model.table} failed: {e.what}"
                reports.append(
                    ModelReport(
                        name=name,
                        kind=result.kind,
                        status=result.status,
                        seconds=round(result.seconds, 3),
                        rows=rows,
                        message=result.message,
                    )
                )
        finally:
            connection.close()
        return reports, error

    def _refresh_serving_database(self, warehouse: Warehouse) -> None:
        """Rewrite the serving database when the lake has tables it lacks."""
        path = serving_database_path(self.pipeline.state_path)
        names = {info.name for info in warehouse.list_tables()}
        if path.exists():
            connection = duckdb.connect(str(path), read_only=True)
            try:
                views = connection.execute(
                    "SELECT table_schema || '.' || table_name FROM information_schema.tables"
                ).fetchall()
            finally:
                connection.close()
            if names <= {row[0] for row in views}:
                return
        write_serving_database(warehouse, path)
