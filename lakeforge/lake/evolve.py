"""Schema evolution of a lake table: new optional columns, in both formats.

The one change that is safe for every reader and for exactly once: columns added as
nullable. Files written before read them as null in Iceberg (by field id) and in Delta
(by name); nothing is rewritten. Any other change (a type, a removed column, a new
required column) is refused with the column and the reason.

Delta (the leader) changes first, then Iceberg. A crash in between leaves Iceberg
without the columns; the next open of the table adds them there too, as commits are
replayed from Delta after a crash.
"""

from __future__ import annotations

import pyarrow as pa
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError
from deltalake.schema import Field as DeltaField
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.table import Table

from lakeforge.errors import SchemaError
from lakeforge.lake.iceberg_log import NAME_MAPPING_PROPERTY, write_version_hint
from lakeforge.lake.schema import arrow_schema, canonical_schema, schema_differences

#: Rounds of looking again when another process changed the schema at the same time.
EVOLVE_ATTEMPTS = 5


def added_columns(stored: pa.Schema, wanted: pa.Schema) -> list[pa.Field]:
    """The columns ``wanted`` adds to ``stored``; raise if it changes anything else.

    Column order does not matter: added columns go after the stored ones, and rows are
    matched to columns by name.
    """
    problems = []
    for field in stored:
        if field.name not in wanted.names:
            problems.append(f"column {field.name} is missing (columns are never dropped)")
        elif not field.equals(wanted.field(field.name)):
            problems += schema_differences(
                pa.schema([field]), pa.schema([wanted.field(field.name)])
            )
    added = [field for field in wanted if field.name not in stored.names]
    problems += [
        f"column {field.name} is new but not nullable (rows already stored have no value)"
        for field in added
        if not field.nullable
    ]
    if problems:
        raise SchemaError(
            "; ".join(problems),
            hint="a table can only gain nullable columns; for any other change use a new "
            "table name (and a new topic if the messages change incompatibly)",
        )
    return added


def evolve_delta(uri: str, wanted: pa.Schema) -> list[str]:
    """Add to the Delta table at ``uri`` the columns of ``wanted`` it lacks; their names.

    Another process making the same change at the same time (runners adopting a schema
    file together, a reader finishing an interrupted change) is not an error: the
    columns are there afterwards either way.
    """
    for attempt in range(EVOLVE_ATTEMPTS):
        table = DeltaTable(uri)
        added = added_columns(canonical_schema(pa.schema(table.schema().to_arrow())), wanted)
        if not added:
            return []
        try:
            table.alter.add_columns([DeltaField.from_arrow(field) for field in added])
            return [field.name for field in added]
        except DeltaError:
            if attempt + 1 == EVOLVE_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def evolve_iceberg(table: Table, wanted: pa.Schema) -> list[str]:
    """Add to the Iceberg ``table`` the columns of ``wanted`` it lacks; their names.

    As for Delta, the same change made meanwhile by another process is not an error.
    """
    for attempt in range(EVOLVE_ATTEMPTS):
        added = added_columns(arrow_schema(table.schema()), wanted)
        if not added:
            return []
        try:
            with table.transaction() as transaction:
                with transaction.update_schema() as update:
                    update.union_by_name(pa.schema(added))
                # The name mapping follows the schema, so files without field ids still read.
                mapping = transaction.table_metadata.schema().name_mapping.model_dump_json()
                transaction.set_properties({NAME_MAPPING_PROPERTY: mapping})
        except CommitFailedException:
            if attempt + 1 == EVOLVE_ATTEMPTS:
                raise
            table.refresh()  # another process changed it: look again at what it has
            continue
        write_version_hint(table)
        return [field.name for field in added]
    raise AssertionError("unreachable")
