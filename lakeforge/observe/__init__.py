"""Prometheus metrics of a pipeline's processes, where they are served, and what transforms report.

Importing this package stays cheap: the stream runner's instrumentation
(:mod:`lakeforge.observe.stream`) and the status probes (:mod:`lakeforge.observe.live`)
are imported from their modules.
"""

from lakeforge.observe.endpoints import (
    Endpoint,
    live_endpoints,
    prometheus_targets,
    serve_metrics,
)
from lakeforge.observe.metrics import Metrics, process_metrics
from lakeforge.observe.server import MetricsServer
from lakeforge.observe.transform import observe_gold_freshness, observe_transform

__all__ = [
    "Endpoint",
    "Metrics",
    "MetricsServer",
    "live_endpoints",
    "observe_gold_freshness",
    "observe_transform",
    "process_metrics",
    "prometheus_targets",
    "serve_metrics",
]
