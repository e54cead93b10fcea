"""Lake tables: Parquet written once, committed to Delta and Iceberg, exactly once."""

from lakeforge.lake.base import (
    OFFSET_COLUMN,
    PARTITION_COLUMN,
    CommitConflictError,
    CommitResult,
    PositionsError,
    TableInfo,
    TableStats,
)
from lakeforge.lake.table import LakeTable
from lakeforge.lake.warehouse import Warehouse

__all__ = [
    "OFFSET_COLUMN",
    "PARTITION_COLUMN",
    "CommitConflictError",
    "CommitResult",
    "LakeTable",
    "PositionsError",
    "TableInfo",
    "TableStats",
    "Warehouse",
]
