"""Transform metrics, and the last transform's report as ``lakeforge status`` reads it.

The transform code calls :func:`observe_transform` once per run and
:func:`observe_gold_freshness` when it measured freshness; both are cheap and never
raise for a valid number. The report itself, ``<state>/transform/last_run.json``, is
written by the transform code; :func:`last_transform` reads it without trusting it.
"""

from __future__ import annotations

import json
import math
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from lakeforge.observe.metrics import Metrics, process_metrics
from lakeforge.spec.model import Pipeline


def observe_transform(
    pipeline: str, seconds: float, ok: bool, *, metrics: Metrics | None = None
) -> None:
    """Count one finished transform run of ``pipeline`` (its name) that took ``seconds``.

    ``ok`` False counts it as an error; a successful run also sets
    ``lakeforge_transform_last_success_timestamp_seconds`` to now.
    """
    m = metrics or process_metrics()
    m.transform_duration.labels(pipeline).observe(max(0.0, seconds))
    m.transform_runs.labels(pipeline, "success" if ok else "error").inc()
    # Both outcomes get a series at once, so rate() and alerts see a zero, not nothing.
    m.transform_runs.labels(pipeline, "error" if ok else "success")
    if ok:
        m.transform_last_success.labels(pipeline).set(time.time())


def observe_gold_freshness(
    pipeline: str, seconds: float, *, metrics: Metrics | None = None
) -> None:
    """Record freshness event -> gold of ``pipeline``'s last transform run.

    ``seconds``: from event time to readable in gold, for the slowest record the run
    brought to gold (the ``max`` of the run's gold freshness), as bronze reports its
    slowest sampled record. NaN or infinity is ignored.
    """
    if not math.isfinite(seconds):
        return
    m = metrics or process_metrics()
    m.freshness.labels(pipeline, "gold").set(seconds)
    m.record_freshness.labels(pipeline, "gold").observe(seconds)


def last_run_path(pipeline: Pipeline) -> Path:
    """Where the transform code saves the report of its last run."""
    return pipeline.transform_state_path / "last_run.json"


_REQUIRED: dict[str, tuple[type, ...]] = {
    "run": (int,),
    "status": (str,),
    "started_at": (str,),
    "finished_at": (str,),
    "duration_seconds": (int, float),
    "models": (list,),
}


def last_transform(pipeline: Pipeline) -> dict[str, Any]:
    """The last transform run, checked: ``{"state": "none" | "ok" | "unreadable", ...}``.

    ``ok`` carries the report's fields; ``unreadable`` carries ``problem``, a sentence
    saying what is wrong with the file, so that status can show it instead of failing.
    """
    path = last_run_path(pipeline)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {"state": "none", "path": str(path)}
    except OSError as exc:
        return _unreadable(path, f"cannot be read: {exc.strerror}")
    try:
        data = json.loads(text)
    except ValueError as exc:
        return _unreadable(path, f"is not valid JSON: {exc}")
    if not isinstance(data, dict):
        return _unreadable(path, "does not hold a JSON object")
    for key, types in _REQUIRED.items():
        value = data.get(key)
        if not isinstance(value, types) or isinstance(value, bool):
            return _unreadable(path, f"has no valid {key!r}")
    if data.get("status") not in ("success", "error"):
        return _unreadable(path, f"has status {data['status']!r}, not 'success' or 'error'")
    models = [_model(m) for m in data["models"]]
    if None in models:
        return _unreadable(path, "has a model without a name and status")
    error = data.get("error")
    freshness = data.get("gold_freshness_seconds")
    return {
        "state": "ok",
        "path": str(path),
        "run": data["run"],
        "status": data["status"],
        "started_at": data["started_at"],
        "finished_at": data["finished_at"],
        "finished_age_s": _age(data["finished_at"]),
        "duration_seconds": float(data["duration_seconds"]),
        "models": models,
        "error": error if isinstance(error, str) else None,
        "gold_freshness_seconds": freshness if isinstance(freshness, dict) else {},
    }


def _model(raw: Any) -> dict[str, Any] | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        return None
    if not isinstance(raw.get("status"), str):
        return None
    rows, seconds = raw.get("rows"), raw.get("seconds")
    return {
        "name": raw["name"],
        "status": raw["status"],
        "kind": raw.get("kind") if isinstance(raw.get("kind"), str) else "model",
        "rows": rows if isinstance(rows, int) and not isinstance(rows, bool) else None,
        "seconds": float(seconds) if isinstance(seconds, int | float) else None,
        "message": raw.get("message") if isinstance(raw.get("message"), str) else None,
    }


def _age(timestamp: str) -> float | None:
    """Seconds since an ISO 8601 time with a zone; None if it is not one."""
    try:
        moment = datetime.fromisoformat(timestamp)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return round(time.time() - moment.timestamp(), 3)


def _unreadable(path: Path, problem: str) -> dict[str, Any]:
    return {"state": "unreadable", "path": str(path), "problem": f"{path.name} {problem}"}
