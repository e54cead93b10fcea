"""Schema edits for the registry tests, and where the example schema lives."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

TRADE_AVSC = Path(__file__).resolve().parents[2] / "examples" / "stocks" / "schemas" / "trade.avsc"


def evolve(schema: str, change: Callable[[dict[str, Any]], None]) -> str:
    """``schema`` with ``change`` applied to its parsed JSON."""
    parsed = json.loads(schema)
    change(parsed)
    return json.dumps(parsed)


def field_of(record: dict[str, Any], name: str) -> dict[str, Any]:
    """The field called ``name`` of a record schema."""
    return next(f for f in record["fields"] if f["name"] == name)


def add_field(**field: Any) -> Callable[[dict[str, Any]], None]:
    """A change that appends ``field`` to a record."""
    return lambda record: record["fields"].append(field)


def record(name: str, *fields: dict[str, Any], **extra: Any) -> str:
    """A record schema's text."""
    return json.dumps({"type": "record", "name": name, "fields": list(fields), **extra})
