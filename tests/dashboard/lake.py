"""A real lake for the dashboard tests, made with the CLI as a user would.

Bronze comes from ``lakeforge produce`` and ``lakeforge process``; the gold tables the
stock dashboard charts (``gold_bars_1m``, ``gold_daily_summary``, ``gold_top_movers``)
from ``lakeforge transform``, the example's dbt models.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import STOCKS
from tests.lakeforge_cli import lakeforge


def copy_stocks(root: Path) -> Path:
    """A private copy of examples/stocks (with its dashboards, without its state)."""
    target = root / "stocks"
    shutil.copytree(STOCKS, target, ignore=shutil.ignore_patterns(".lakeforge", "target", "logs"))
    return target


def make_bronze(pipeline: Path, trades: int, rate: float = 0) -> None:
    """Produce ``trades`` trades at ``rate`` per second (0: at once) and process them."""
    lakeforge("produce", "--count", str(trades), "--rate", str(rate), "--quiet", pipeline=pipeline)
    lakeforge("process", "--until-drained", pipeline=pipeline)


def build_gold(pipeline: Path) -> None:
    """Build silver and gold from bronze: the pipeline's dbt models, published to the lake."""
    lakeforge("transform", pipeline=pipeline)
