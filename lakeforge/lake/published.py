"""Tables a transform publishes (silver, gold): Iceberg only, one snapshot per run.

Bronze is written by the stream runner to both formats; the layers built from it are
rebuilt or extended by dbt and published here, to the same catalog, so that any Iceberg
engine (DuckDB, Trino, Spark) reads every layer. Each snapshot records the transform
run that made it, which makes publishing idempotent: a run published twice (after a
crash between building and publishing) is not appended twice.
"""

from __future__ import annotations

import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.table import Table

from lakeforge.errors import SchemaError
from lakeforge.lake.iceberg_log import summary_of, write_version_hint

#: Snapshot summary key: the transform run a snapshot published.
RUN_KEY = "lakeforge.transform-run"
#: Snapshot summary key: a fingerprint of a replaced table's content.
FINGERPRINT_KEY = "lakeforge.content-fingerprint"

TABLE_PROPERTIES = {
    "write.metadata.delete-after-commit.enabled": "true",
    "write.metadata.previous-versions-max": "20",
}


class PublishedTable:
    """One silver or gold table in the lake's Iceberg catalog."""

    def __init__(self, catalog: Catalog, identifier: tuple[str, str], location: str) -> None:
        self._catalog = catalog
        self._identifier = identifier
        self._location = location
        self.name = ".".join(identifier)

    def _load(self) -> Table | None:
        try:
            return self._catalog.load_table(self._identifier)
        except NoSuchTableError:
            return None

    @property
    def last_run(self) -> int:
        """The transform run last published here; 0 when never published."""
        table = self._load()
        snapshot = table.current_snapshot() if table else None
        return int(summary_of(snapshot).get(RUN_KEY, 0)) if snapshot else 0

    @property
    def rows(self) -> int:
        """Rows in the current snapshot, from its metadata."""
        table = self._load()
        snapshot = table.current_snapshot() if table else None
        return int(summary_of(snapshot).get("total-records", 0)) if snapshot else 0

    @property
    def fingerprint(self) -> str | None:
        """The content fingerprint given to the last :meth:`replace`, if any."""
        table = self._load()
        snapshot = table.current_snapshot() if table else None
        return summary_of(snapshot).get(FINGERPRINT_KEY) if snapshot else None

    def replace(self, rows: pa.Table, run: int, fingerprint: str | None = None) -> None:
        """Make ``rows`` the table's whole content, as one snapshot of run ``run``.

        A table whose columns changed is created anew: a transform's output is rebuilt
        from bronze, so its history is not worth a schema migration. ``fingerprint``
        (of the content) is stored, so that an unchanged table need not be replaced.
        """
        table = self._load()
        if table is not None and _differences(table, rows.schema):
            self._catalog.drop_table(self._identifier)
            table = None
        if table is None:
            table = self._create(rows.schema)
        properties = {RUN_KEY: str(run)}
        if fingerprint is not None:
            properties[FINGERPRINT_KEY] = fingerprint
        table.overwrite(rows, snapshot_properties=properties)
        write_version_hint(table)

    def append(self, rows: pa.Table, run: int) -> None:
        """Add ``rows`` as one snapshot of run ``run``; a no-op if that run is published."""
        table = self._load()
        if table is None:
            table = self._create(rows.schema)
        elif problems := _differences(table, rows.schema):
            raise SchemaError(
                f"{self.name}: the model's columns changed: " + "; ".join(problems),
                hint="rebuild it with `lakeforge transform --full-refresh`",
            )
        if self.last_run >= run:
            return
        table.append(rows, snapshot_properties={RUN_KEY: str(run)})
        write_version_hint(table)

    def _create(self, schema: pa.Schema) -> Table:
        namespace = self._identifier[0]
        self._catalog.create_namespace_if_not_exists(namespace)
        table = self._catalog.create_table(
            self._identifier, schema, location=self._location, properties=dict(TABLE_PROPERTIES)
        )
        write_version_hint(table)
        return table


def _differences(table: Table, schema: pa.Schema) -> list[str]:
    """How ``schema`` differs from the table's columns (names and types, in order)."""
    stored = [(f.name, str(f.field_type)) for f in table.schema().fields]
    wanted = [(f.name, str(f.field_type)) for f in Catalog._convert_schema_if_needed(schema).fields]
    if stored == wanted:
        return []
    had, has = dict(stored), dict(wanted)
    gone = [name for name in had if name not in has]
    changed = [f"{name} is now {kind}" for name, kind in has.items() if had.get(name, kind) != kind]
    added = [name for name in has if name not in had]
    return (
        [f"column {name} was removed" for name in gone]
        + [f"column {text}" for text in changed]
        + [f"column {name} was added" for name in added]
    ) or ["the column order changed"]
