"""Every Prometheus metric lakeforge exports, defined in one place.

Names are in the user's words and in base units (seconds, bytes), each with a
``pipeline`` label so that one Prometheus can watch several pipelines. Metrics live in
a :class:`Metrics` object with its own ``CollectorRegistry``, not in the library-wide
default registry: a test can make a fresh one, and a process exports only its own.
"""

from __future__ import annotations

import threading

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)

#: Values of the ``stage`` label of ``lakeforge_records_total`` and friends.
PRODUCED = "produced"
FETCHED = "fetched"
BRONZE = "bronze"
DEAD_LETTERS = "dead_letters"

_ROW_BUCKETS = (1, 10, 100, 1_000, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000)
_COMMIT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# Freshness p99 under 1 s is the target (docs/benchmarks.md): fine buckets around it.
_FRESHNESS_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30, 60, 300, 900, 3600)
_TRANSFORM_BUCKETS = (0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1800)


class Metrics:
    """The metrics of one process, registered in ``registry``.

    Producers, the stream runner and transforms update these; a
    :class:`~lakeforge.observe.server.MetricsServer` serves ``registry``.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        on = self.registry
        self.records = Counter(
            "lakeforge_records",
            "Records through each stage: produced (appended to the log), fetched (read by "
            "the stream runner), bronze and dead_letters (committed to those tables).",
            ["pipeline", "stage"],
            registry=on,
        )
        self.bytes = Counter(
            "lakeforge_bytes",
            "Message bytes through each stage: produced, fetched.",
            ["pipeline", "stage"],
            registry=on,
        )
        self.dead_letters = Counter(
            "lakeforge_dead_letters",
            "Dead letters committed, by bronze table and error kind (rule, truncated, ...).",
            ["pipeline", "table", "kind"],
            registry=on,
        )
        self.batch_rows = Histogram(
            "lakeforge_batch_rows",
            "Records per batch: appended by the producer (produced), read by the runner (fetched).",
            ["pipeline", "stage"],
            buckets=_ROW_BUCKETS,
            registry=on,
        )
        self.commit_duration = Histogram(
            "lakeforge_commit_duration_seconds",
            "Seconds to commit one micro-batch to a bronze table and its dead letters, "
            "in both formats.",
            ["pipeline", "table"],
            buckets=_COMMIT_BUCKETS,
            registry=on,
        )
        self.last_commit = Gauge(
            "lakeforge_last_commit_timestamp_seconds",
            "Unix time of the last commit to a bronze table.",
            ["pipeline", "table"],
            registry=on,
        )
        self.lag = Gauge(
            "lakeforge_lag_records",
            "Messages on the log not yet committed to bronze: log end minus the committed "
            "position, per topic partition.",
            ["pipeline", "topic", "partition"],
            registry=on,
        )
        self.freshness = Gauge(
            "lakeforge_freshness_seconds",
            "Seconds from event time to readable in the layer, for the slowest record of "
            "the layer's last commit (bronze: sampled; gold: the last transform).",
            ["pipeline", "layer"],
            registry=on,
        )
        self.record_freshness = Histogram(
            "lakeforge_record_freshness_seconds",
            "Seconds from event time to readable in the layer, per sampled record; "
            "histogram_quantile(0.99, ...) gives freshness p99.",
            ["pipeline", "layer"],
            buckets=_FRESHNESS_BUCKETS,
            registry=on,
        )
        self.transform_duration = Histogram(
            "lakeforge_transform_duration_seconds",
            "Seconds one transform run took (build, tests, publishing).",
            ["pipeline"],
            buckets=_TRANSFORM_BUCKETS,
            registry=on,
        )
        self.transform_runs = Counter(
            "lakeforge_transform_runs",
            "Transform runs by outcome: success or error.",
            ["pipeline", "status"],
            registry=on,
        )
        self.transform_last_success = Gauge(
            "lakeforge_transform_last_success_timestamp_seconds",
            "Unix time at which the last successful transform run finished.",
            ["pipeline"],
            registry=on,
        )


_process_metrics: Metrics | None = None
_process_lock = threading.Lock()


def process_metrics() -> Metrics:
    """The metrics of this process (made on first use), with CPU, memory and GC too."""
    global _process_metrics
    with _process_lock:
        if _process_metrics is None:
            # The *_created series double what Prometheus stores and nothing here reads
            # them. This is process-wide: every registry of the process loses them.
            disable_created_metrics()  # type: ignore[no-untyped-call]
            metrics = Metrics()
            # The standard process_*, python_* series: a slow runner's CPU and memory.
            for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
                metrics.registry.register(collector)
            _process_metrics = metrics
        return _process_metrics
