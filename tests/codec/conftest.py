"""Fixtures of the codec tests: the example trade schema and the all-types schema."""

from __future__ import annotations

import pytest

from lakeforge.codec import AvroSchema
from tests.codec.samples import EVERYTHING_TEXT, TRADE_PATH


@pytest.fixture(scope="session")
def trade_schema() -> AvroSchema:
    """The stocks example's trade schema."""
    return AvroSchema.load(TRADE_PATH)


@pytest.fixture(scope="session")
def everything_schema() -> AvroSchema:
    """A schema with every type lakeforge supports, nested ones included."""
    return AvroSchema.parse(EVERYTHING_TEXT, source="everything")
