"""Validation rules: SQL boolean expressions evaluated by DuckDB over a whole batch.

A rule is checked against the schema when the pipeline loads, so a rule naming an
unknown field or returning something other than a boolean fails before anything
runs. At run time all rules of a table are evaluated in one query over the Arrow
batch; only the failing rows ever reach Python. A failing row's reason names each
rule it broke, the rule's check, and the values of the fields the check reads, as
DuckDB saw them: "rule failed: price_is_positive (price > 0) with price = -5.0".
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
    #: For each failed row (in row order): the rules it broke, with the values they read.
    reasons: list[str]


def _column_list(schema: pa.Schema) -> str:
    return ", ".join(f'"{name}"' for name in schema.names)


def _words(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))


#: A value longer than this is cut in a reason.
_VALUE_CHARS = 80


class RuleSet:
    """The rules of one bronze table, bound to the table's Arrow schema."""

    def __init__(self, rules: Sequence[Rule], schema: pa.Schema, where: str = "rules") -> None:
        self.rules = tuple(rules)
        self.schema = schema
        # DuckDB scans only the columns the rules can name: handing it wide list
        # columns that no rule reads costs more than evaluating the rules.
        words = _words(" ".join(r.check for r in self.rules))
        self._columns = [name for name in schema.names if name in words]
        # the fields each rule reads, whose values a failed row's reason shows
        self._reads = [[n for n in schema.names if n in _words(r.check)] for r in self.rules]
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
        failed = np.flatnonzero(~passed)
        if failed.size == 0:
            return RuleVerdicts(passed, [])
        # per rule, only the rows that broke it, and only the fields it reads
        broken: list[list[str]] = [[] for _ in failed]
        for rule, reads, verdict in zip(self.rules, self._reads, verdicts[failed].T, strict=True):
            rows = np.flatnonzero(~verdict)
            if rows.size == 0:
                continue
            what = f"{rule.name} ({rule.check})"
            seen = self._values(batch, failed[rows], reads)
            for k, values in zip(rows.tolist(), seen, strict=True):
                broken[k].append(f"{what} with {values}" if values else what)
        reasons = ["rule failed: " + "; ".join(rules) for rules in broken]
        return RuleVerdicts(passed, reasons)

    def _values(self, batch: pa.Table, rows: np.ndarray, names: list[str]) -> list[str]:
        """Per row, "name = value, ..." for the fields ``names``, as DuckDB sees them."""
        if not names:
            return [""] * len(rows)
        picked = batch.select(names).take(pa.array(rows, pa.int64()))
        self._connection.register("failed", picked)
        try:
            casts = ", ".join(f'CAST("{name}" AS VARCHAR) AS "{name}"' for name in names)
            texts = self._connection.execute(f"SELECT {casts} FROM failed").to_arrow_table()
        finally:
            self._connection.unregister("failed")
        columns = []
        for name in names:
            quote = _is_string(batch.schema.field(name).type)
            columns.append([f"{name} = {_show(t, quote)}" for t in texts[name].to_pylist()])
        return [", ".join(values) for values in zip(*columns, strict=True)]

    def close(self) -> None:
        """Close the DuckDB connection."""
        self._connection.close()


def _is_string(type_: pa.DataType) -> bool:
    return bool(pa.types.is_string(type_) or pa.types.is_large_string(type_))


def _show(text: str | None, quote: bool) -> str:
    """One value for a reason: NULL, a string in quotes (escaped), long ones cut."""
    if text is None:
        return "NULL"
    if len(text) > _VALUE_CHARS:
        text = text[:_VALUE_CHARS] + "..."
    return repr(text) if quote else text
