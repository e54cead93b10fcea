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
        "rule failed: r0 (isfinite(price) AND price > 0) with price = -1.0; "
        "r1 (size > 0) with size = 0",
        "rule failed: r0 (isfinite(price) AND price > 0) with price = nan",
        "rule failed: r0 (isfinite(price) AND price > 0) with price = NULL",
        "rule failed: r2 (symbol IS NOT NULL) with symbol = NULL",
    ]


def test_reasons_show_values_as_the_rule_saw_them() -> None:
    schema = pa.schema([("happened", pa.timestamp("us", tz="UTC")), ("symbol", pa.string())])
    batch = pa.table(
        {
            "happened": pa.array([2**63 - 1, -1, 32_503_680_000_000_000, 0], pa.int64()).cast(
                pa.timestamp("us", tz="UTC")
            ),
            "symbol": ["A", "it's\x00", "X" * 100, "ok"],
        },
        schema=schema,
    )
    checks = [
        Rule(
            name="sane",
            check="happened > TIMESTAMPTZ '2000-01-01' AND happened < TIMESTAMPTZ '2100-01-01'",
        ),
        Rule(name="short", check="length(symbol) < 5"),
        Rule(name="always", check="now() > TIMESTAMPTZ '2000-01-01'"),
    ]
    reasons = RuleSet(checks, schema).evaluate(batch).reasons
    sane = f"sane ({checks[0].check}) with happened = "
    short = f"short ({checks[1].check}) with symbol = "
    assert reasons == [
        f"rule failed: {sane}infinity",
        f'rule failed: {sane}1969-12-31 23:59:59.999999+00; {short}"it\'s\\x00"',
        f"rule failed: {sane}3000-01-01 00:00:00+00; {short}'{'X' * 80}...'",
        f"rule failed: {sane}1970-01-01 00:00:00+00",
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
