"""Ask a pipeline's running processes, through their metrics endpoints, what they do now.

Rates come from counters read twice, about a second apart; a process that does not
answer is reported as such rather than failing the whole status.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from lakeforge.observe.endpoints import Endpoint, live_endpoints
from lakeforge.observe.metrics import BRONZE, DEAD_LETTERS, FETCHED, PRODUCED
from lakeforge.spec.model import Pipeline

#: Seconds between the two readings that rates are computed from.
SAMPLE_INTERVAL_S = 1.0
#: How long one endpoint may take to answer.
SCRAPE_TIMEOUT_S = 2.0
_STAGES = (PRODUCED, FETCHED, BRONZE, DEAD_LETTERS)

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Reading:
    """One scrape of one endpoint: every sample by (name, labels), and when it was taken."""

    at: float
    samples: dict[tuple[str, Labels], float]

    def total(self, name: str, **match: str) -> float | None:
        """The sum of ``name``'s samples whose labels include ``match``; None if none."""
        values = [
            value
            for (sample, labels), value in self.samples.items()
            if sample == name and match.items() <= dict(labels).items()
        ]
        return sum(values) if values else None


def scrape(url: str, timeout: float = SCRAPE_TIMEOUT_S) -> Reading:
    """Read a Prometheus text endpoint once (raises httpx.HTTPError or ValueError)."""
    response = httpx.get(url, timeout=timeout)
    response.raise_for_status()
    at = time.monotonic()
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }
    return Reading(at, samples)


def _try_scrape(endpoint: Endpoint) -> Reading | str:
    try:
        return scrape(endpoint.url)
    except (httpx.HTTPError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"


def _rates(before: Reading, after: Reading, pipeline: str) -> dict[str, float]:
    """Records per second through each stage this process reports, between two readings."""
    seconds = after.at - before.at
    rates = {}
    for stage in _STAGES:
        now = after.total("lakeforge_records_total", pipeline=pipeline, stage=stage)
        then = before.total("lakeforge_records_total", pipeline=pipeline, stage=stage)
        if now is not None and then is not None and seconds > 0:
            rates[f"{stage}_per_s"] = max(0.0, now - then) / seconds
    return rates


def _freshness(reading: Reading, pipeline: str) -> dict[str, float]:
    """The freshness gauge of each layer this process reports."""
    found = {}
    for (name, labels), value in reading.samples.items():
        tags = dict(labels)
        if name == "lakeforge_freshness_seconds" and tags.get("pipeline") == pipeline:
            found[tags.get("layer", "?")] = value
    return found


def live_report(pipeline: Pipeline, interval: float = SAMPLE_INTERVAL_S) -> dict[str, Any]:
    """Running processes, their rates over about ``interval`` seconds, and live freshness.

    With no process running this returns at once, with rates of None.
    """
    endpoints = live_endpoints(pipeline)
    first = {e.role: _try_scrape(e) for e in endpoints}
    if any(isinstance(r, Reading) for r in first.values()):
        time.sleep(interval)
    processes = []
    rates: dict[str, float | None] = {f"{stage}_per_s": None for stage in _STAGES}
    freshness: dict[str, float] = {}
    for endpoint in endpoints:
        before = first[endpoint.role]
        # A process that did not answer the first time is not asked again.
        after = _try_scrape(endpoint) if isinstance(before, Reading) else before
        if not (isinstance(before, Reading) and isinstance(after, Reading)):
            problem = after if isinstance(after, str) else str(before)
            processes.append({**asdict(endpoint), "answering": False, "problem": problem})
            continue
        processes.append({**asdict(endpoint), "answering": True, "problem": None})
        for key, rate in _rates(before, after, pipeline.name).items():
            rates[key] = (rates[key] or 0.0) + rate
        for layer, seconds in _freshness(after, pipeline.name).items():
            freshness[layer] = max(seconds, freshness.get(layer, seconds))
    measured = any(p["answering"] for p in processes)
    return {
        "processes": processes,
        "rates": {"window_s": interval if measured else None, **rates},
        "freshness_s": freshness,
    }
