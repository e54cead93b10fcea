"""Schemas, records and fastavro helpers shared by the codec tests.

fastavro is the independent reference: bodies it writes are what the decoder must read,
bodies the encoder writes are what fastavro must read back. Logical types are stripped
from the schemas fastavro sees, so both sides compare raw Avro values.
"""

from __future__ import annotations

import copy
import io
import json
import math
from pathlib import Path
from typing import Any

import fastavro
import numpy as np
import pyarrow as pa

from lakeforge.errors import NotFoundError

ROOT = Path(__file__).resolve().parents[2]
TRADE_PATH = ROOT / "examples" / "stocks" / "schemas" / "trade.avsc"
TRADE_TEXT = TRADE_PATH.read_text()

EVERYTHING = {
    "type": "record",
    "name": "Everything",
    "namespace": "test",
    "fields": [
        {"name": "b", "type": "boolean"},
        {"name": "i", "type": "int"},
        {"name": "l", "type": "long"},
        {"name": "f", "type": "float"},
        {"name": "d", "type": "double"},
        {"name": "s", "type": "string"},
        {"name": "by", "type": "bytes"},
        {
            "name": "e",
            "type": {"type": "enum", "name": "Color", "symbols": ["RED", "GREEN", "BLUE"]},
        },
        {"name": "fx", "type": {"type": "fixed", "name": "Four", "size": 4}},
        {"name": "ts_ms", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "ns", "type": ["null", "string"]},
        {"name": "nl", "type": ["long", "null"], "default": 0},
        {"name": "tags", "type": {"type": "array", "items": "long"}},
        {
            "name": "matrix",
            "type": {"type": "array", "items": {"type": "array", "items": "double"}},
        },
        {
            "name": "point",
            "type": {
                "type": "record",
                "name": "Point",
                "fields": [
                    {"name": "x", "type": "int"},
                    {"name": "label", "type": ["null", "string"]},
                ],
            },
        },
        {"name": "points", "type": {"type": "array", "items": "Point"}},
        {"name": "maybe_point", "type": ["null", "Point"]},
        {"name": "maybe_colors", "type": ["null", {"type": "array", "items": ["null", "Color"]}]},
    ],
}
EVERYTHING_TEXT = json.dumps(EVERYTHING)


def strip_logical(schema: Any) -> Any:
    """A copy of a schema (JSON form) with logical types removed: fastavro then reads raw."""
    if isinstance(schema, list):
        return [strip_logical(branch) for branch in schema]
    if isinstance(schema, dict):
        out = {k: strip_logical(v) for k, v in schema.items() if k != "logicalType"}
        if "logicalType" in schema and set(out) == {"type"}:
            return out["type"]
        return out
    return schema


def fastavro_schema(text: str) -> Any:
    """The parsed schema fastavro reads and writes raw (logical-free) values with."""
    return fastavro.parse_schema(strip_logical(json.loads(text)))


def write_body(parsed: Any, record: dict[str, Any]) -> bytes:
    """fastavro's Avro body of one record."""
    out = io.BytesIO()
    fastavro.schemaless_writer(out, parsed, record)
    return out.getvalue()


def read_body(parsed: Any, body: bytes) -> dict[str, Any] | None:
    """fastavro's record from a body, or None unless it reads the body exactly to its end."""
    source = io.BytesIO(body)
    try:
        record = fastavro.schemaless_reader(source, parsed, None)
    except Exception:
        return None
    return record if source.tell() == len(body) else None


def framed(schema_id: int, body: bytes) -> bytes:
    """A Confluent-framed message."""
    return b"\x00" + schema_id.to_bytes(4, "big") + body


def raw_rows(table: pa.Table) -> list[dict[str, Any]]:
    """A decoded table as raw Avro values (timestamps in their Avro unit), normalised."""
    columns = {}
    for field in table.schema:
        column = table.column(field.name)
        if pa.types.is_timestamp(field.type) or pa.types.is_date(field.type):
            column = column.cast(pa.int64() if pa.types.is_timestamp(field.type) else pa.int32())
        columns[field.name] = column
    rows = pa.table(columns).to_pylist()
    return [normalise(row) for row in rows]


def normalise(value: Any) -> Any:
    """NaN equal to NaN (by name), so records compare with ==."""
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    return value


def millis_to_micros(
    rows: list[dict[str, Any]], fields: tuple[str, ...] = ("ts_ms",)
) -> list[dict[str, Any]]:
    """Records with timestamp-millis fields scaled to the micros the Arrow column holds."""
    out = copy.deepcopy(rows)
    for row in out:
        for name in fields:
            if name in row and row[name] is not None:
                row[name] *= 1000
    return out


class Registry:
    """A schema lookup by id that counts its calls, as the decoder's writer source."""

    def __init__(self, schemas: dict[int, str]) -> None:
        self.schemas = schemas
        self.calls: list[int] = []

    def __call__(self, schema_id: int) -> str:
        self.calls.append(schema_id)
        try:
            return self.schemas[schema_id]
        except KeyError:
            raise NotFoundError(f"schema id {schema_id} is not registered") from None


# --- random records ------------------------------------------------------------------

SYMBOLS = ["AAPL", "MSFT", "GOOG", "BRK.A", "T", "", "Société", "日本株", "🚀"]
EXCHANGES = ["NASDAQ", "NYSE", "ARCA", "IEX", "FINRA_ADF"]
CONDITIONS = ["@", "I", "F", "T", "", "é"]
EXTREME_LONGS = [
    0,
    1,
    -1,
    63,
    -64,
    64,
    -65,
    2**31 - 1,
    -(2**31),
    2**55,
    2**56,
    -(2**56) - 1,
    2**62,
    2**63 - 1,
    -(2**63),
]
EXTREME_INTS = [0, 1, -1, 63, -64, 64, 2**31 - 1, -(2**31), 2**20]
SPECIAL_DOUBLES = [0.0, -0.0, math.inf, -math.inf, math.nan, 5e-324, 1.7976931348623157e308]


def random_trades(count: int, seed: int) -> list[dict[str, Any]]:
    """Trade records (raw Avro values) with extremes mixed in."""
    rng = np.random.default_rng(seed)

    def pick(values: list[Any]) -> Any:
        return values[int(rng.integers(len(values)))]

    records = []
    for n in range(count):
        extreme = rng.random() < 0.3
        records.append(
            {
                "trade_id": pick(EXTREME_LONGS) if extreme else int(rng.integers(-(2**40), 2**40)),
                "symbol": pick(SYMBOLS),
                "price": pick(SPECIAL_DOUBLES) if extreme else float(rng.normal(100, 50)),
                "size": pick(EXTREME_INTS) if extreme else int(rng.integers(1, 10_000)),
                "exchange": pick(EXCHANGES),
                "conditions": [pick(CONDITIONS) for _ in range(int(rng.integers(0, 4)))],
                "tape": pick(["A", "B", "C", ""]),
                # before 1970 too: timestamps are signed
                "event_time": pick(EXTREME_LONGS)
                if extreme
                else int(rng.integers(-(2**52), 2**52)) + n,
            }
        )
    return records


def random_everything(count: int, seed: int) -> list[dict[str, Any]]:
    """Records of the EVERYTHING schema (raw Avro values: ts_ms in millis, day in days)."""
    rng = np.random.default_rng(seed)

    def maybe(value: Any) -> Any:
        return None if rng.random() < 0.3 else value

    def point() -> dict[str, Any]:
        return {
            "x": int(rng.integers(-(2**31), 2**31)),
            "label": maybe(SYMBOLS[int(rng.integers(9))]),
        }

    return [
        {
            "b": bool(rng.random() < 0.5),
            "i": int(rng.choice(EXTREME_INTS)),
            "l": int(rng.choice(np.array(EXTREME_LONGS, dtype=object))),
            "f": float(np.float32(rng.normal())),
            "d": float(rng.choice(SPECIAL_DOUBLES)),
            "s": SYMBOLS[int(rng.integers(9))],
            "by": rng.bytes(int(rng.integers(0, 20))),
            "e": ["RED", "GREEN", "BLUE"][int(rng.integers(3))],
            "fx": rng.bytes(4),
            "ts_ms": int(rng.integers(-(2**45), 2**45)),
            "day": int(rng.integers(-100_000, 100_000)),
            "ns": maybe(SYMBOLS[int(rng.integers(9))]),
            "nl": maybe(int(rng.integers(-(2**62), 2**62))),
            "tags": [int(v) for v in rng.integers(-(2**62), 2**62, int(rng.integers(0, 5)))],
            "matrix": [
                [float(v) for v in rng.normal(size=int(rng.integers(0, 3)))]
                for _ in range(int(rng.integers(0, 3)))
            ],
            "point": point(),
            "points": [point() for _ in range(int(rng.integers(0, 3)))],
            "maybe_point": maybe(point()),
            "maybe_colors": maybe(
                [
                    maybe(["RED", "GREEN", "BLUE"][int(rng.integers(3))])
                    for _ in range(int(rng.integers(0, 3)))
                ]
            ),
        }
        for _ in range(count)
    ]
