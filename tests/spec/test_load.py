"""pipeline.yaml: the example loads; every kind of mistake gets a precise message."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lakeforge.errors import ConfigError, NotFoundError
from lakeforge.spec.checks import check_pipeline
from lakeforge.spec.load import load_pipeline
from lakeforge.spec.model import parse_duration_ms


def edit(folder: Path, change: dict | None = None, text: str | None = None) -> Path:
    path = folder / "pipeline.yaml"
    if text is not None:
        path.write_text(text)
        return folder
    data = yaml.safe_load(path.read_text())
    for dotted, value in (change or {}).items():
        node = data
        parts = dotted.split(".")
        for part in parts[:-1]:
            node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
        last = parts[-1]
        if value is ...:
            del node[last]
        elif isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    path.write_text(yaml.safe_dump(data))
    return folder


def test_example_loads_and_checks(stocks: Path) -> None:
    pipeline = load_pipeline(stocks, environ={})
    schemas = check_pipeline(pipeline)
    assert pipeline.name == "stocks"
    assert pipeline.topic("trades").partitions == 4
    assert pipeline.stream.batch_interval == 400
    assert pipeline.topic("trades").retention == 7 * 86_400_000
    assert "price" in schemas["trades"].field_names
    assert pipeline.state_path == (stocks / ".lakeforge").resolve()


def test_missing_directory_says_so(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="does not exist") as info:
        load_pipeline(tmp_path / "nope", environ={})
    assert "lakeforge new" in (info.value.hint or "")


def test_directory_without_pipeline_file(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match=r"no pipeline\.yaml"):
        load_pipeline(tmp_path, environ={})


def test_yaml_syntax_error_names_line(stocks: Path) -> None:
    edit(stocks, text="name: stocks\ntopics: [\n  - oops: : :\n")
    with pytest.raises(ConfigError, match=r"pipeline.yaml:\d+:\d+: invalid YAML"):
        load_pipeline(stocks, environ={})


def test_top_level_must_be_mapping(stocks: Path) -> None:
    edit(stocks, text="- just\n- a list\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_pipeline(stocks, environ={})


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"topics.0.partitions": 0}, r"topics\[0\]\.partitions: Input should be greater"),
        ({"topics.0.partitions": "four"}, r"topics\[0\]\.partitions: .*integer.*'four'"),
        ({"topics.0.partitons": 4}, r"topics\[0\]\.partitons: unknown setting"),
        ({"name": "Bad Name!"}, r"name: String should match pattern"),
        ({"stream.batch_interval": "soon"}, r"stream\.batch_interval: .*not a duration"),
        ({"bronze.0.rules.0.check": "price > 0; DROP TABLE x"}, r"remove the ';'"),
        ({"bronze.0.formats": ["parquet"]}, r"bronze\[0\]\.formats\[0\]: Input should be"),
        ({"name": ...}, r"name: Field required"),
        ({"registry.compatibility": "SOMETIMES"}, r"registry\.compatibility: Input should be"),
        ({"maintain.schedule": "weekly"}, r"maintain\.schedule: .*not a duration"),
        (
            {"maintain.schedule": -5},
            r"maintain\.schedule: Input should be greater than or equal to 0",
        ),
        ({"maintain.target_file_mb": 0}, r"maintain\.target_file_mb: Input should be greater"),
        ({"maintain.target_file_mb": "big"}, r"maintain\.target_file_mb: .*integer.*'big'"),
        ({"maintain.target_file_mb": 10**6}, r"maintain\.target_file_mb: Input should be less"),
        ({"maintain.retain_hours": 0}, r"maintain\.retain_hours: Input should be greater"),
        ({"maintain.vacuum": True}, r"maintain\.vacuum: unknown setting"),
    ],
)
def test_structural_mistakes_name_the_field(stocks: Path, change: dict, expected: str) -> None:
    edit(stocks, change)
    with pytest.raises(ConfigError, match=expected) as info:
        load_pipeline(stocks, environ={})
    assert str(stocks / "pipeline.yaml") in str(info.value)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"bronze.0.rules.0.check": "prize > 0"}, r'price_is_positive.*"prize" not found'),
        ({"bronze.0.rules.0.check": "price + 1"}, r"gives DOUBLE, not a boolean"),
        ({"bronze.0.topic": "quotes"}, r"unknown topic 'quotes'"),
        ({"source.topic": "quotes"}, r"source\.topic: unknown topic 'quotes'"),
        ({"topics.0.key": "ticker"}, r"topics\[trades\]\.key: no field 'ticker'"),
        ({"topics.0.schema": "schemas/missing.avsc"}, r"no schema file at .*missing\.avsc"),
    ],
)
def test_semantic_mistakes_are_all_reported(stocks: Path, change: dict, expected: str) -> None:
    edit(stocks, change)
    with pytest.raises(ConfigError, match=expected):
        check_pipeline(load_pipeline(stocks, environ={}))


def test_invalid_schema_file_is_reported(stocks: Path) -> None:
    (stocks / "schemas" / "trade.avsc").write_text('{"type": "record", "name": "T", "fields": [')
    with pytest.raises(ConfigError, match=r"topics\[trades\]\.schema"):
        check_pipeline(load_pipeline(stocks, environ={}))


def test_environment_overrides_file(stocks: Path) -> None:
    pipeline = load_pipeline(stocks, environ={"LAKEFORGE__STREAM__BATCH_ROWS": "5000"})
    assert pipeline.stream.batch_rows == 5000


def test_bad_environment_value_names_the_variable(stocks: Path) -> None:
    with pytest.raises(ConfigError, match="environment variable LAKEFORGE__STREAM__BATCH_ROWS"):
        load_pipeline(stocks, environ={"LAKEFORGE__STREAM__BATCH_ROWS": "many"})


def test_empty_section_in_variable_name(stocks: Path) -> None:
    with pytest.raises(ConfigError, match="empty section"):
        load_pipeline(stocks, environ={"LAKEFORGE__STREAM____X": "1"})


@pytest.mark.parametrize(
    ("text", "ms"),
    [("500ms", 500), ("2s", 2000), ("7d", 604_800_000), (250, 250), ("1.5m", 90_000)],
)
def test_durations(text: object, ms: int) -> None:
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize("text", ["soon", "5 weeks", True, "-1s"])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration_ms(text)
