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
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from lakeforge.source.base import Generator
from lakeforge.source.market import LISTINGS, TRADING_YEAR_S, VENUES

_CONDITIONS = pa.array(["@", "I", "F"], pa.string())


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
        # Cumulative shares: drawing by binary search is cheaper than rng.choice(p=...).
        self._activity = np.cumsum(activity / activity.sum())
        self._venues = pa.array([venue for venue, _ in VENUES], pa.string())
        shares = np.array([share for _, share in VENUES])
        self._venue_shares = np.cumsum(shares / shares.sum())
        self._next_id = first_id

    def next_batch(self, rows: int, start_us: int, end_us: int) -> pa.Table:
        """The next ``rows`` trades with event times in [start_us, end_us)."""
        rng = self._rng
        symbol = self._draw(self._activity, rows)
        event_us = self._arrivals(rows, start_us, max(end_us, start_us + 1))
        price = self._prices(symbol, rows, (end_us - start_us) / 1e6)
        size, odd = self._sizes(price)
        sweep = rng.random(rows) < 0.08
        condition = np.where(odd, 1, np.where(sweep, 2, 0))
        conditions = pa.ListArray.from_arrays(
            pa.array(np.arange(rows + 1, dtype=np.int32)), _CONDITIONS.take(condition)
        )
        ids = np.arange(self._next_id, self._next_id + rows, dtype=np.int64)
        self._next_id += rows
        return pa.table(
            {
                "trade_id": ids,
                "symbol": self._symbols.take(symbol),
                "price": price,
                "size": size,
                "exchange": self._venues.take(self._draw(self._venue_shares, rows)),
                "conditions": conditions,
                "tape": self._tapes.take(symbol),
                "event_time": pa.array(event_us, pa.timestamp("us", tz="UTC")),
            }
        )

    def _draw(self, cumulative: np.ndarray, rows: int) -> np.ndarray:
        """Indices drawn with the probabilities whose running sum is ``cumulative``."""
        picks = np.searchsorted(cumulative, self._rng.random(rows) * cumulative[-1], "right")
        return np.asarray(np.minimum(picks, len(cumulative) - 1))

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
        sigma = self._volatility[symbol]
        step = -0.5 * sigma**2 * dt[symbol] + sigma * np.sqrt(dt[symbol]) * rng.standard_normal(
            rows
        )
        order = np.argsort(symbol, kind="stable")
        walked = np.cumsum(step[order])
        group_end = np.cumsum(counts)
        # Restart the cumulative sum at each symbol's first trade.
        starts = np.repeat(group_end - counts, counts)
        offset = np.where(starts > 0, walked[np.maximum(starts - 1, 0)], 0.0)
        path = np.empty(rows)
        path[order] = walked - offset
        log_price = self._log_price[symbol] + path
        last = group_end[counts > 0] - 1
        self._log_price[np.nonzero(counts)[0]] += (walked - offset)[last]
        mid = np.exp(log_price)
        spread = np.maximum(0.01, mid * 0.0002)
        bounce = np.where(rng.random(rows) < 0.5, -0.5, 0.5) * spread
        prices: np.ndarray = np.round(np.maximum(mid + bounce, 0.01), 2)
        return prices

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
