"""What a transform did: per model and test, and overall; saved for ``lakeforge status``."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ModelReport:
    """One dbt node of a build: a model (published or not) or a test."""

    #: ``silver.silver_trades`` for a model, the test's name for a test.
    name: str
    #: ``model``, ``test``, ``seed`` or ``snapshot``.
    kind: str
    #: dbt's status: ``success``, ``error``, ``skipped``, ``pass``, ``fail``, ``warn``.
    status: str
    seconds: float
    #: Rows published to the lake by this run (models only; ``None`` if not published).
    rows: int | None = None
    #: dbt's message: the error, or the number of failing rows of a test.
    message: str | None = None

    @property
    def failed(self) -> bool:
        """Whether this node failed (an error, a failed test)."""
        return self.status in ("error", "fail", "runtime error")


@dataclass(frozen=True)
class TransformReport:
    """One transform run: dbt build, then publishing to the lake."""

    run: int
    #: ``success`` or ``error``.
    status: str
    started_at: str
    finished_at: str
    duration_seconds: float
    models: tuple[ModelReport, ...] = ()
    error: str | None = None
    #: Seconds from a trade's event time to its gold row being published, over the trades
    #: this run brought to gold: ``{"p50": ..., "p99": ..., "max": ...}``.
    gold_freshness_seconds: dict[str, float] = field(default_factory=dict)
    log_file: str | None = None

    @property
    def ok(self) -> bool:
        """Whether everything built, passed its tests and was published."""
        return self.status == "success"

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-ready data (what ``last_run.json`` holds)."""
        return asdict(self)

    def save(self, path: Path) -> None:
        """Write the report to ``path`` atomically."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "w", dir=path.parent, prefix=f".{path.name}", delete=False
        ) as out:
            json.dump(self.to_json(), out, indent=2)
        os.replace(out.name, path)


def append_history(report: TransformReport, path: Path, keep: int = 1000) -> None:
    """Add ``report`` to the JSON-lines history at ``path``, keeping the last ``keep``."""
    lines = path.read_text().splitlines() if path.exists() else []
    lines = [*lines[-(keep - 1) :], json.dumps(report.to_json())]
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, prefix=f".{path.name}", delete=False
    ) as out:
        out.write("\n".join(lines) + "\n")
    os.replace(out.name, path)


def last_run_number(path: Path) -> int:
    """The run number in a saved report; 0 if there is none or it cannot be read."""
    try:
        return int(json.loads(path.read_text())["run"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0
