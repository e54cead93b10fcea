"""Reference data for the synthetic stock market: tickers, price levels and venues.

Price levels and volatilities are round figures of the kind seen on US markets; they
only need to look realistic, not to be current.
"""

from __future__ import annotations

#: (symbol, price in USD, annual volatility, tape) — tape A is NYSE-listed, B regional
#: and ETFs, C NASDAQ-listed. The most active come first (activity falls off by rank).
LISTINGS: tuple[tuple[str, float, float, str], ...] = (
    ("SPY", 580.0, 0.14, "B"), ("QQQ", 500.0, 0.19, "B"), ("IWM", 220.0, 0.22, "B"),
    ("AAPL", 230.0, 0.28, "C"), ("MSFT", 420.0, 0.25, "C"), ("NVDA", 130.0, 0.55, "C"),
    ("AMZN", 190.0, 0.33, "C"), ("GOOGL", 170.0, 0.30, "C"), ("META", 560.0, 0.38, "C"),
    ("TSLA", 250.0, 0.60, "C"), ("BRK.B", 450.0, 0.18, "A"), ("JPM", 220.0, 0.24, "A"),
    ("V", 280.0, 0.20, "A"), ("UNH", 560.0, 0.26, "A"), ("XOM", 115.0, 0.27, "A"),
    ("JNJ", 160.0, 0.17, "A"), ("WMT", 80.0, 0.19, "A"), ("MA", 500.0, 0.21, "A"),
    ("PG", 170.0, 0.16, "A"), ("HD", 400.0, 0.24, "A"), ("CVX", 155.0, 0.26, "A"),
    ("ABBV", 190.0, 0.25, "A"), ("KO", 65.0, 0.15, "A"), ("PEP", 165.0, 0.17, "C"),
    ("COST", 880.0, 0.22, "C"), ("AVGO", 170.0, 0.48, "C"), ("ADBE", 500.0, 0.35, "C"),
    ("CRM", 290.0, 0.36, "A"), ("NFLX", 700.0, 0.40, "C"), ("AMD", 150.0, 0.52, "C"),
    ("INTC", 22.0, 0.45, "C"), ("CSCO", 55.0, 0.22, "C"), ("ORCL", 170.0, 0.33, "A"),
    ("BAC", 42.0, 0.28, "A"), ("WFC", 65.0, 0.29, "A"), ("DIS", 95.0, 0.28, "A"),
    ("NKE", 80.0, 0.32, "A"), ("MCD", 300.0, 0.18, "A"), ("T", 22.0, 0.22, "A"),
    ("VZ", 42.0, 0.20, "A"), ("PFE", 28.0, 0.26, "A"), ("MRK", 100.0, 0.23, "A"),
    ("BA", 160.0, 0.42, "A"), ("CAT", 380.0, 0.30, "A"), ("GE", 180.0, 0.32, "A"),
    ("IBM", 220.0, 0.24, "A"), ("QCOM", 160.0, 0.38, "C"), ("TXN", 200.0, 0.28, "C"),
    ("SBUX", 95.0, 0.30, "C"), ("PYPL", 75.0, 0.42, "C"), ("UBER", 75.0, 0.45, "A"),
    ("SHOP", 100.0, 0.55, "C"), ("PLTR", 40.0, 0.70, "C"), ("F", 11.0, 0.38, "A"),
    ("GM", 50.0, 0.35, "A"), ("SOFI", 12.0, 0.65, "C"), ("SNAP", 11.0, 0.70, "A"),
    ("RIVN", 12.0, 0.75, "C"), ("AAL", 13.0, 0.50, "C"), ("CCL", 22.0, 0.50, "A"),
)  # fmt: skip

#: Venues (the trade schema's Exchange enum) and their share of consolidated volume;
#: FINRA_ADF stands for off-exchange (dark pool and wholesaler) prints.
VENUES: tuple[tuple[str, float], ...] = (
    ("FINRA_ADF", 0.40), ("NASDAQ", 0.13), ("NYSE", 0.10), ("ARCA", 0.08),
    ("BATS", 0.06), ("EDGX", 0.06), ("MEMX", 0.03), ("IEX", 0.03), ("BATY", 0.02),
    ("EDGA", 0.02), ("BX", 0.02), ("PSX", 0.01), ("AMEX", 0.01), ("CHX", 0.005),
    ("NSX", 0.005),
)  # fmt: skip

#: Seconds in a trading year (252 days of 6.5 hours): volatility is per this time.
TRADING_YEAR_S = 252 * 6.5 * 3600
