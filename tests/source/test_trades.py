"""The synthetic trade source: reproducible, realistic, and valid for the trade schema."""

from __future__ import annotations

import io
import json
from pathlib import Path

import fastavro
import numpy as np
import pyarrow.compute as pc
import pytest

from lakeforge.codec import AvroSchema, encode
from lakeforge.errors import ConfigError
from lakeforge.source.base import load_generator
from lakeforge.source.market import LISTINGS
from lakeforge.source.trades import TradeGenerator, _Shares

SCHEMA = AvroSchema.load(Path(__file__).parents[2] / "examples/stocks/schemas/trade.avsc")
HOUR_US = 3_600_000_000


def batch(seed: int = 1, rows: int = 50_000, first_id: int = 1):  # type: ignore[no-untyped-def]
    return TradeGenerator(seed=seed, symbols=50, first_id=first_id).next_batch(rows, 0, HOUR_US)


def test_same_seed_same_trades() -> None:
    assert batch(seed=3).equals(batch(seed=3))
    assert not batch(seed=3).equals(batch(seed=4))


def test_matches_the_schema_and_fastavro_reads_it() -> None:
    trades = batch(rows=1000)
    assert trades.schema.names == list(SCHEMA.field_names)
    bodies = encode(trades, SCHEMA).to_pylist()
    parsed = fastavro.parse_schema(json.loads(SCHEMA.text))
    first = fastavro.schemaless_reader(io.BytesIO(bodies[0]), parsed, None)
    assert first["trade_id"] == 1


def test_realistic_shape() -> None:
    trades = batch(rows=200_000)
    ids = trades["trade_id"].to_numpy()
    assert (np.diff(ids) == 1).all()
    times = trades["event_time"].cast("int64").to_numpy()
    assert (np.diff(times) >= 0).all() and times.min() >= 0 and times.max() < HOUR_US
    symbols = pc.value_counts(trades["symbol"]).to_pylist()
    assert len(symbols) == 50
    counts = sorted((s["counts"] for s in symbols), reverse=True)
    assert counts[0] > 5 * counts[-1], "a few names should trade much more than the rest"
    sizes = trades["size"].to_numpy()
    odd = sizes < 100
    assert 0.1 < odd.mean() < 0.7
    assert (sizes[~odd] % 100 == 0).all()
    conditions = trades["conditions"].to_pylist()
    assert all(("I" in c) == (s < 100) for c, s in zip(conditions, sizes, strict=True))
    assert set(pc.unique(trades["tape"]).to_pylist()) == {"A", "B", "C"}
    # Prices stay near their reference levels over an hour (GBM, tens of percent a year).
    aapl = trades.filter(pc.equal(trades["symbol"], "AAPL"))["price"].to_numpy()
    reference = dict((s, p) for s, p, _, _ in LISTINGS)["AAPL"]
    assert abs(np.median(aapl) / reference - 1) < 0.05
    assert (np.round(aapl * 100) == aapl * 100).all(), "prices are in cents"


def test_prices_continue_across_batches() -> None:
    generator = TradeGenerator(seed=5, symbols=10)
    first = generator.next_batch(20_000, 0, HOUR_US)
    second = generator.next_batch(20_000, HOUR_US, 2 * HOUR_US)
    for trades in (first, second):
        assert pc.min(trades["price"]).as_py() > 0
    last = first.filter(pc.equal(first["symbol"], "AAPL"))["price"].to_numpy()[-1]
    next_ = second.filter(pc.equal(second["symbol"], "AAPL"))["price"].to_numpy()[0]
    assert abs(next_ / last - 1) < 0.01


def test_resumes_ids() -> None:
    assert batch(first_id=1001, rows=5)["trade_id"].to_pylist() == [1001, 1002, 1003, 1004, 1005]


def test_more_symbols_than_listings() -> None:
    trades = TradeGenerator(seed=1, symbols=80).next_batch(100_000, 0, HOUR_US)
    assert len(pc.unique(trades["symbol"])) == 80


def test_unknown_generator_is_named() -> None:
    with pytest.raises(ConfigError, match="unknown source generator 'quotes'"):
        load_generator("quotes")


class _Fixed:
    """Stands in for a NumPy generator's ``random``: hands out chosen uniform values."""

    def __init__(self, values: np.ndarray) -> None:
        self.values = values

    def random(self, rows: int) -> np.ndarray:
        assert rows == len(self.values)
        return self.values


@pytest.mark.parametrize("count", [1, 2, 3, 15, 50, 5000, 40_000])
def test_lookup_draws_match_a_binary_search_exactly(count: int) -> None:
    activity = 1.0 / np.arange(1, count + 1) ** 0.8
    cumulative = np.cumsum(activity / activity.sum())
    shares = _Shares(cumulative)

    def searched(values: np.ndarray) -> np.ndarray:
        picks = np.searchsorted(cumulative, values * cumulative[-1], "right")
        return np.minimum(picks, count - 1)

    drawn = np.random.default_rng(count).random(200_000)
    # and the values right at, just below and just above every boundary and bucket edge
    edges = np.concatenate([cumulative, np.arange(_Shares.BUCKETS + 1) / _Shares.BUCKETS])
    edges = edges / cumulative[-1]
    near = np.concatenate([edges, np.nextafter(edges, 0), np.nextafter(edges, 2)])
    values = np.concatenate([drawn, np.clip(near, 0.0, np.nextafter(1.0, 0))])

    assert np.array_equal(shares.draw(_Fixed(values), len(values)), searched(values))  # type: ignore[arg-type]
