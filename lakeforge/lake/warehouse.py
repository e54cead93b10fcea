"""A local lakehouse: one directory with an Iceberg catalog and tables in both formats.

Layout under the root::

    catalog.db                      pyiceberg's SQL catalog (SQLite; the JDBC catalog's tables)
    iceberg/<namespace>/<table>/    Iceberg metadata only (metadata JSON, manifests)
    delta/<namespace>/<table>/      the Delta table: _delta_log/ and data/, the shared Parquet files

The data files live under the Delta root because Delta resolves no path outside its
root, while Iceberg takes any absolute path. Iceberg metadata stays out of the Delta
root, where a Delta vacuum would treat it as garbage. Each Iceberg table records its
Delta root in a table property, so opening a table needs no layout rule; locations are
URIs strings handled by pyarrow filesystems, so an ``s3://`` root is a later change of
this module only.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from types import TracebackType

import pyarrow as pa
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError
from pyiceberg.table import Table
from sqlalchemy.exc import IntegrityError, OperationalError

from lakeforge.errors import ConfigError, DataIntegrityError, NotFoundError, SchemaError
from lakeforge.lake.base import TableInfo
from lakeforge.lake.days import check_day_column
from lakeforge.lake.delta_log import DeltaLog
from lakeforge.lake.evolve import evolve_delta, evolve_iceberg
from lakeforge.lake.iceberg_log import (
    DELTA_LOCATION_PROPERTY,
    DELTA_VERSION_KEY,
    IcebergLog,
    create_table,
    partition_by_day,
    summary_of,
)
from lakeforge.lake.published import PublishedTable
from lakeforge.lake.schema import arrow_schema, canonical_schema, schema_differences
from lakeforge.lake.table import LakeTable

#: The catalog name in the SQL catalog's rows; Trino and Flink must use the same one.
CATALOG_NAME = "lakeforge"
#: How long a catalog call waits for another process's transaction on the catalog.
CATALOG_TIMEOUT_S = 30.0
#: Opening a new catalog only races other processes creating its tables at that moment.
CATALOG_OPEN_ATTEMPTS = 3
_NAME = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)$")


class Warehouse:
    """The lake tables under one root directory.

    Safe to use from several processes at once: the catalog is a SQLite database and
    every commit is optimistic in both formats.
    """

    def __init__(self, root: Path | str, catalog_timeout_s: float = CATALOG_TIMEOUT_S) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._base = str(self.root)
        # SQLite's busy handler retries, backing off, while another process holds the
        # catalog; past the timeout the call fails with "database is locked".
        uri = f"sqlite:///{self.root / 'catalog.db'}?timeout={catalog_timeout_s:g}"
        self._catalog = _open_catalog(uri, self._base)

    def table(self, name: str, schema: pa.Schema, partition_by_day: str | None = None) -> LakeTable:
        """Open table ``name`` (``namespace.table``), creating it with ``schema`` if absent.

        ``partition_by_day``: a required timestamp column whose UTC day partitions a
        table created here (see :mod:`lakeforge.lake.days`). A table that exists keeps
        the partitioning it was created with: Delta cannot change it in place.

        Raises :class:`~lakeforge.errors.SchemaError` when the schema is unsupported or
        the table exists with another schema, and :class:`~lakeforge.errors.ConfigError`
        when ``partition_by_day`` cannot partition it.
        """
        namespace, table = _parse(name)
        wanted = canonical_schema(schema)
        delta_location = f"{self._base}/delta/{namespace}/{table}"
        existing = self._load(namespace, table)
        if existing is None:
            if partition_by_day is not None:
                check_day_column(wanted, partition_by_day)
            # Delta first: it is the leader, and a table is visible (in the catalog)
            # only once both formats exist. A crash in between leaves a Delta table
            # that the next call here simply opens.
            DeltaLog.create(delta_location, wanted, name)
            self._create_namespace(namespace)
            existing = create_table(
                self._catalog,
                (namespace, table),
                wanted,
                f"{self._base}/iceberg/{namespace}/{table}",
                delta_location,
                partition_by_day,
            )
        else:
            existing = self._evolve(name, existing, wanted)
        return self._open(name, existing)

    def _create_namespace(self, namespace: str) -> None:
        # Runners starting together: another process may insert the namespace between
        # pyiceberg's check and its own insert. It exists then, which is what we want.
        with contextlib.suppress(IntegrityError):
            self._catalog.create_namespace_if_not_exists(namespace)

    def _evolve(self, name: str, table: Table, wanted: pa.Schema) -> Table:
        """Give both formats of ``table`` the new nullable columns of ``wanted``."""
        location = table.properties.get(DELTA_LOCATION_PROPERTY)
        if location is None or not DeltaLog.exists(location):
            return table  # not a stream table, or a broken one: opening it says which
        try:
            evolve_delta(location, wanted)
            evolve_iceberg(table, wanted)
        except SchemaError as error:
            raise SchemaError(
                f"table {name} cannot take the new schema: {error.what}", error.hint
            ) from None
        return table

    def open_table(self, name: str) -> LakeTable:
        """Open an existing table; :class:`~lakeforge.errors.NotFoundError` if absent."""
        namespace, table = _parse(name)
        existing = self._load(namespace, table)
        if existing is None:
            names = ", ".join(info.name for info in self.list_tables()) or "none"
            raise NotFoundError(
                f"table {name} does not exist in the warehouse {self.root}",
                hint=f"existing tables: {names}",
            )
        return self._open(name, existing)

    def published_table(self, name: str) -> PublishedTable:
        """The silver or gold table ``name`` that a transform publishes (Iceberg only).

        Created on first publish; bronze tables are not published tables.
        """
        namespace, table = _parse(name)
        existing = self._load(namespace, table)
        if existing is not None and DELTA_LOCATION_PROPERTY in existing.properties:
            raise ConfigError(
                f"table {name} is a stream table (Iceberg and Delta), not a transform's",
                hint="name dbt models so that they do not collide with bronze tables",
            )
        location = f"{self._base}/iceberg/{namespace}/{table}"
        return PublishedTable(self._catalog, (namespace, table), location)

    def list_tables(self) -> list[TableInfo]:
        """Every table, by name, with its locations and row count (from metadata only)."""
        infos = []
        for namespace in sorted(self._catalog.list_namespaces()):
            for identifier in sorted(self._catalog.list_tables(namespace)):
                loaded = self._catalog.load_table(identifier)
                snapshot = loaded.current_snapshot()
                summary = summary_of(snapshot) if snapshot else {}
                rows = summary.get("total-records", 0)
                version = summary.get(DELTA_VERSION_KEY)
                infos.append(
                    TableInfo(
                        name=".".join(identifier),
                        iceberg_metadata_location=str(loaded.metadata_location),
                        delta_location=loaded.properties.get(DELTA_LOCATION_PROPERTY),
                        rows=int(rows),
                        iceberg_location=loaded.location(),
                        delta_version=int(version) if version is not None else None,
                        partition_by_day=partition_by_day(loaded),
                    )
                )
        return infos

    def close(self) -> None:
        """Release the catalog's database connections."""
        self._catalog.close()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _load(self, namespace: str, table: str) -> Table | None:
        try:
            return self._catalog.load_table((namespace, table))
        except (NoSuchTableError, NoSuchNamespaceError):
            return None

    def _open(self, name: str, table: Table) -> LakeTable:
        if DELTA_LOCATION_PROPERTY not in table.properties:
            raise ConfigError(
                f"table {name} is published by transforms, in Iceberg only",
                hint="read it with `lakeforge query`; only stream tables open for commits",
            )
        iceberg = IcebergLog(table)
        if not DeltaLog.exists(iceberg.delta_location):
            raise DataIntegrityError(
                f"table {name}: its Delta table {iceberg.delta_location} is gone",
                hint="the Delta side holds the data files and the positions; restore it",
            )
        delta = DeltaLog(iceberg.delta_location)
        stored = arrow_schema(table.schema())
        delta_schema = canonical_schema(delta.schema())
        if set(delta_schema.names) > set(stored.names):
            # A crash between the two formats' schema changes: finish it in Iceberg.
            evolve_iceberg(table, delta_schema)
            stored = arrow_schema(table.schema())
        if problems := schema_differences(stored, delta_schema):
            raise DataIntegrityError(
                f"table {name}: the Delta and Iceberg schemas differ: " + "; ".join(problems)
            )
        return LakeTable(name, iceberg, delta)


def _open_catalog(uri: str, warehouse: str) -> SqlCatalog:
    """The SQL catalog at ``uri`` (pyiceberg's), its tables created on first use.

    pyiceberg looks for its tables, then creates them: processes opening a new
    warehouse together (a runner, a producer, `lakeforge status`) race in between, and
    the loser's CREATE TABLE fails. The tables exist then; opening again finds them.
    """
    for attempt in range(CATALOG_OPEN_ATTEMPTS):
        try:
            return SqlCatalog(CATALOG_NAME, uri=uri, warehouse=warehouse)
        except OperationalError as error:
            if "already exists" not in str(error) or attempt + 1 == CATALOG_OPEN_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def _parse(name: str) -> tuple[str, str]:
    match = _NAME.match(name)
    if match is None:
        raise ConfigError(
            f"table name {name!r} is not 'namespace.table'",
            hint="use letters, digits and underscores, e.g. 'bronze.trades'",
        )
    return match.group(1), match.group(2)
