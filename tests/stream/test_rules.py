"""Validation rules run in DuckDB over whole batches; NULL counts as a failure."""

from __future__ import annotations

import pyarrow as pa
import pytest

from lakeforge.errors import ConfigError
from lakeforge.spec.model import Rule
from lakeforge.stream.rules import RuleSet

SCHEMA = pa.schema([("price", pa.float64()), ("size", pa.int32()), ("symbol", pa.string())])


def rules(*checks: str) -> RuleSet:
    return RuleSet([Rule(name=f"r{i}", check=c) for i, c in enumerate(checks)], SCHEMA)


def test_verdicts_and_reasons() -> None:
    batch = pa.table(
        {
            "price": [1.0, -1.0, float("nan"), None, 2.0],
            "size": [1, 0, 5, 3, 1],
            "symbol": ["A", "B", "C", "D", None],
        },
        schema=SCHEMA,
    )
    verdicts = rules("isfinite(price) AND price > 0", "size > 0", "symbol IS NOT NULL").evaluate(
        batch
    )
    assert verdicts.passed.tolist() == [True, False, False, False, False]
    assert verdicts.reasons == [
        "rule failed: r0, r1",
        "rule failed: r0",
        "rule failed: r0",
        "rule failed: r2",
    ]


def test_no_rules_pass_everything() -> None:
    batch = pa.table({"price": [1.0], "size": [1], "symbol": ["A"]}, schema=SCHEMA)
    assert rules().evaluate(batch).passed.tolist() == [True]


@pytest.mark.parametrize(
    ("check", "message"),
    [
        ("prize > 0", 'column "prize" not found'),
        ("price +", "syntax error"),
        ("price * 2", "gives DOUBLE, not a boolean"),
        ("no_such_function(price)", "no_such_function"),
    ],
)
def test_bad_rules_fail_before_running(check: str, message: str) -> None:
    with pytest.raises(ConfigError, match="invalid validation rules") as info:
        rules(check)
    assert message.lower() in str(info.value).lower()
    assert '"price", "size", "symbol"' in (info.value.hint or "")
