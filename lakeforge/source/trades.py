"""A synthetic, seeded, realistic stream of stock trades, generated a batch at a time.

Everything is vectorised with numpy: one batch of a million trades is a handful of
array operations, so the generator alone runs well above a million trades a second.

What makes it look like a market:

* symbols trade with Zipf-like activity (the big names trade most), at realistic price
  levels, and each symbol's price follows geometric Brownian motion with its own
  volatility, plus a bid-ask bounce, rounded to the cent;
* sizes mix odd lots (more common for high-priced stocks), round lots and rare blocks;
* venues follow their share of volume, with off-exchange prints as FINRA_ADF;
* condition codes: ``@`` regular, ``I`` odd lot, ``F`` intermarket sweep;
* arrivals come in bursts: part of each batch clusters around a few moments;
* trade ids increase by one, continuing from where a previous run stopped.

The string columns (symbol, exchange, conditions, tape) come dictionary-encoded: each
row holds an index into the few distinct values, so no string is copied per trade.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from lakeforge.source.base import Generator
from lakeforge.source.market import LISTINGS, TRADING_YEAR_S, VENUES

_CONDITIONS = pa.array(["@", "I", "F"], pa.string())


def _index_type(count: int) -> type[np.signedinteger]:
    """The narrowest signed integer type that holds indices below ``count``."""
    for candidate in (np.int8, np.int16, np.int32):
        if count <= np.iinfo(candidate).max + 1:
            return candidate
    return np.int64


class _Shares:
    """Draws indices with given probabilities, by table lookup rather than binary search.

    A draw is exactly ``np.searchsorted(cumulative, u * cumulative[-1], "right")`` for a
    uniform ``u`` (capped at the last index). The range is cut into equal buckets; a
    bucket whose whole span, widened by a margin far above any rounding error, falls
    between two running sums has one answer, looked up. The few values in the other
    buckets (about one bucket per index) are searched.
    """

    BUCKETS = 4096

    def __init__(self, cumulative: np.ndarray) -> None:
        self.cumulative = cumulative
        self.total = float(cumulative[-1])
        self._scale = self.BUCKETS / self.total
        edges = np.arange(self.BUCKETS + 1) * (self.total / self.BUCKETS)
        margin = self.total * 1e-9
        low = np.searchsorted(cumulative, edges[:-1] - margin, "right")
        high = np.searchsorted(cumulative, edges[1:] + margin, "right")
        self._last = len(cumulative) - 1
        # -1: the bucket holds a boundary, search. Narrow indices are smaller to pass
        # around, and NumPy sorts 8 and 16 bits by radix.
        answers = np.where(low == high, np.minimum(low, self._last), -1)
        self._answers = answers.astype(_index_type(len(cumulative)))

    def draw(self, rng: np.random.Generator, rows: int) -> np.ndarray:
        """``rows`` indices, each ``i`` drawn with probability of its share."""
        values = rng.random(rows) * self.total
        bucket = (values * self._scale).astype(np.intp)
        # a value just below the total may round up into one bucket too many
        np.minimum(bucket, self.BUCKETS - 1, out=bucket)
        picks: np.ndarray = self._answers[bucket]
        unsure = np.flatnonzero(picks < 0)
        searched = np.searchsorted(self.cumulative, values[unsure], "right")
        picks[unsure] = np.minimum(searched, self._last)
        return picks


def _pick(values: pa.Array, indices: np.ndarray) -> pa.DictionaryArray:
    """``values[indices]`` as a dictionary column: no string is copied per row.

    The encoder then encodes each distinct string once, and the producer hashes each
    distinct key once, instead of once per trade.
    """
    # indices are in range by construction: no need to check them again
    return pa.DictionaryArray.from_arrays(indices, values, safe=False)


class TradeGenerator(Generator):
    """Seeded generator of stock trades matching ``examples/stocks/schemas/trade.avsc``."""

    id_column = "trade_id"

    def __init__(self, seed: int = 42, symbols: int = 50, first_id: int = 1) -> None:
        # The random stream depends on the seed and where the sequence starts, so a
        # resumed producer is reproducible too.
        self._rng = np.random.default_rng([seed, first_id])
        listings = [*LISTINGS]
        for extra in range(len(listings), symbols):
            listings.append((f"SYM{extra:03d}", 20.0 + extra % 80 * 5.0, 0.4, "B"))
        listings = listings[:symbols]
        self._symbols = pa.array([row[0] for row in listings], pa.string())
        self._tapes = pa.array([row[3] for row in listings], pa.string())
        self._log_price = np.log(np.array([row[1] for row in listings]))
        self._volatility = np.array([row[2] for row in listings])
        activity = 1.0 / np.arange(1, symbols + 1) ** 0.8
        # Cumulative shares: drawing by lookup is cheaper than rng.choice(p=...).
        self._activity = _Shares(np.cumsum(activity / activity.sum()))
        self._venues = pa.array([venue for venue, _ in VENUES], pa.string())
        shares = np.array([share for _, share in VENUES])
        self._venue_shares = _Shares(np.cumsum(shares / shares.sum()))
        self._next_id = first_id

    def next_batch(self, rows: int, start_us: int, end_us: int) -> pa.Table:
        """The next ``rows`` trades with event times in [start_us, end_us)."""
        rng = self._rng
        symbol = self._activity.draw(rng, rows)
        event_us = self._arrivals(rows, start_us, max(end_us, start_us + 1))
        price = self._prices(symbol, rows, (end_us - start_us) / 1e6)
        size, odd = self._sizes(price)
        sweep = rng.random(rows) < 0.08
        # indices into _CONDITIONS: I for odd lots, else F for sweeps, else @
        condition = sweep.view(np.int8) << 1
        condition[odd] = 1
        conditions = pa.ListArray.from_arrays(
            pa.array(np.arange(rows + 1, dtype=np.int32)), _pick(_CONDITIONS, condition)
        )
        ids = np.arange(self._next_id, self._next_id + rows, dtype=np.int64)
        self._next_id += rows
        return pa.table(
            {
                "trade_id": ids,
                "symbol": _pick(self._symbols, symbol),
                "price": price,
                "size": size,
                "exchange": _pick(self._venues, self._venue_shares.draw(rng, rows)),
                "conditions": conditions,
                "tape": _pick(self._tapes, symbol),
                "event_time": pa.array(event_us, pa.timestamp("us", tz="UTC")),
            }
        )

    def _arrivals(self, rows: int, start_us: int, end_us: int) -> np.ndarray:
        """Sorted event times: 70% spread evenly, 30% in bursts around a few moments."""
        rng = self._rng
        span = end_us - start_us
        times = rng.random(rows) * span
        bursty = rng.random(rows) < 0.3
        centres = rng.random(max(1, rows // 20_000 + 1)) * span
        picks = rng.integers(0, len(centres), size=int(bursty.sum()))
        times[bursty] = np.clip(
            centres[picks] + rng.normal(0, span * 0.01, picks.size), 0, span - 1
        )
        times.sort()
        return start_us + times.astype(np.int64)

    def _prices(self, symbol: np.ndarray, rows: int, seconds: float) -> np.ndarray:
        """Geometric Brownian motion per symbol over the batch, plus bid-ask bounce."""
        rng = self._rng
        counts = np.bincount(symbol, minlength=len(self._log_price))
        # Each trade of a symbol advances its clock by an equal share of the batch span.
        dt = (max(seconds, 1e-3) / TRADING_YEAR_S) / np.maximum(counts, 1)
        sigma = self._volatility
        # Drift and scale of each symbol's steps, worked out once per symbol and then
        # repeated: the same arithmetic as per trade, so the same bits, for less work.
        drift = -0.5 * sigma**2 * dt
        scale = sigma * np.sqrt(dt)
        shocks = rng.standard_normal(rows)
        # The walk runs over the trades grouped by symbol, in order within a symbol.
        order = np.argsort(symbol, kind="stable")
        step = np.repeat(scale, counts)
        step *= shocks[order]
        step += np.repeat(drift, counts)
        walked = np.zeros(rows + 1)
        np.cumsum(step, out=walked[1:])
        group_end = np.cumsum(counts)
        # Restart the cumulative sum at each symbol's first trade: less the sum before it.
        path = walked[1:] - np.repeat(walked[group_end - counts], counts)
        last = group_end[counts > 0] - 1
        log_price = np.empty(rows)
        log_price[order] = np.repeat(self._log_price, counts) + path
        self._log_price[np.nonzero(counts)[0]] += path[last]
        mid = np.exp(log_price)
        # Half the spread (at least a cent) above or below mid, each equally likely;
        # worked in place, as every step is a pass over the whole batch.
        prices = mid * 0.0002
        np.maximum(prices, 0.01, out=prices)
        prices *= 0.5
        np.negative(prices, out=prices, where=rng.random(rows) < 0.5)
        prices += mid
        np.maximum(prices, 0.01, out=prices)
        return np.round(prices, 2, out=prices)

    def _sizes(self, price: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Shares per trade, and whether each trade is an odd lot."""
        rng = self._rng
        rows = price.size
        odd = rng.random(rows) < np.clip(0.15 + price / 1000.0, 0.1, 0.7)
        sizes = np.empty(rows, dtype=np.int32)
        # Draw each kind only for the trades of that kind: fewer random numbers.
        sizes[odd] = np.minimum(rng.geometric(0.08, int(odd.sum())), 99)
        lots = ~odd
        sizes[lots] = 100 * rng.geometric(0.45, int(lots.sum()))
        block = lots & (rng.random(rows) < 0.005)
        sizes[block] = 100 * rng.integers(10, 200, int(block.sum()))
        return sizes, odd
