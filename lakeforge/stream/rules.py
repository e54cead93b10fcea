"""Validation rules: SQL boolean expressions evaluated by DuckDB over a whole batch.

A rule is checked against the schema when the pipeline loads, so a rule naming an
unknown field or returning something other than a boolean fails before anything
runs. At run time all rules of a table are evaluated in one query over the Arrow
batch; only the failing rows ever reach Python.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from lakeforge.errors import ConfigError
from lakeforge.spec.model import Rule


@dataclass(frozen=True)
class RuleVerdicts:
    """Which rows passed every rule, and why each other row failed."""

    passed: np.ndarray
    #: For each failed row (in row order): the names of the rules it broke.
    reasons: list[str]


def _column_list(schema: pa.Schema) -> str:
    return ", ".join(f'"{name}"' for name in schema.names)


class RuleSet:
    """The rules of one bronze table, bound to the table's Arrow schema."""

    def __init__(self, rules: Sequence[Rule], schema: pa.Schema, where: str = "rules") -> None:
        self.rules = tuple(rules)
        self.schema = schema
        # DuckDB scans only the columns the rules can name: handing it wide list
        # columns that no rule reads costs more than evaluating the rules.
        words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", " ".join(r.check for r in self.rules)))
        self._columns = [name for name in schema.names if name in words]
        self._connection = duckdb.connect(":memory:")
        self._connection.execute("SET TimeZone = 'UTC'")
        self._query = self._bind(where)

    def _bind(self, where: str) -> str | None:
        if not self.rules:
            return None
        empty = pa.table({f.name: pa.array([], f.type) for f in self.schema})
        self._connection.register("batch", empty)
        problems = []
        for index, rule in enumerate(self.rules):
            try:
                kinds = self._connection.execute(
                    f"DESCRIBE SELECT ({rule.check}) AS ok FROM batch"
                ).fetchall()
            except duckdb.Error as exc:
                first_line = str(exc).splitlines()[0]
                problems.append(f"{where}[{index}] {rule.name!r}: {rule.check!r}: {first_line}")
                continue
            if kinds[0][1] != "BOOLEAN":
                problems.append(
                    f"{where}[{index}] {rule.name!r}: {rule.check!r} gives {kinds[0][1]}, "
                    "not a boolean"
                )
        self._connection.unregister("batch")
        if problems:
            raise ConfigError(
                "invalid validation rules:\n  " + "\n  ".join(problems),
                f"rules may use these fields: {_column_list(self.schema)}",
            )
        checks = ", ".join(
            f"coalesce(({rule.check}), false) AS r{i}" for i, rule in enumerate(self.rules)
        )
        return f"SELECT {checks} FROM batch"

    def evaluate(self, batch: pa.Table) -> RuleVerdicts:
        """Evaluate every rule on ``batch``; a NULL result counts as a failure."""
        if self._query is None or batch.num_rows == 0:
            return RuleVerdicts(np.ones(batch.num_rows, dtype=bool), [])
        self._connection.register("batch", batch.select(self._columns))
        try:
            result = self._connection.execute(self._query).to_arrow_table()
        finally:
            self._connection.unregister("batch")
        verdicts = np.column_stack(
            [col.to_numpy(zero_copy_only=False).astype(bool) for col in result.columns]
        )
        passed = np.asarray(verdicts.all(axis=1), dtype=bool)
        failed_rows = verdicts[~passed]
        names = [rule.name for rule in self.rules]
        reasons = [
            "rule failed: " + ", ".join(n for n, ok in zip(names, row, strict=True) if not ok)
            for row in failed_rows
        ]
        return RuleVerdicts(passed, reasons)

    def close(self) -> None:
        """Close the DuckDB connection."""
        self._connection.close()
