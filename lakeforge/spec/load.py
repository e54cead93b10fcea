"""Read ``pipeline.yaml``, layer the environment over it, and validate it.

Layers, later ones win: the file, then ``LAKEFORGE__SECTION__KEY`` environment
variables (``LAKEFORGE__STREAM__BATCH_ROWS=50000``). Every mistake is reported with
the file, the field path and what is allowed; nothing runs on an invalid pipeline.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from lakeforge.errors import ConfigError, NotFoundError
from lakeforge.spec.model import Pipeline

PIPELINE_FILE = "pipeline.yaml"
ENV_PREFIX = "LAKEFORGE__"


def find_pipeline_file(directory: Path) -> Path:
    """The ``pipeline.yaml`` of ``directory``, or a clear error saying what is missing."""
    if not directory.exists():
        raise NotFoundError(
            f"pipeline directory {directory} does not exist",
            "pass --pipeline DIR with a folder holding pipeline.yaml, or create one with "
            "'lakeforge new DIR'",
        )
    if not directory.is_dir():
        raise ConfigError(f"{directory} is not a directory", "pass the folder of pipeline.yaml")
    path = directory / PIPELINE_FILE
    if not path.is_file():
        raise NotFoundError(
            f"no {PIPELINE_FILE} in {directory}",
            "run lakeforge inside a pipeline folder, pass --pipeline DIR, or create one "
            "with 'lakeforge new DIR'",
        )
    return path


def read_yaml(path: Path) -> dict[str, Any]:
    """Parse a YAML mapping, naming the line of a syntax error."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigError(f"{where}: invalid YAML: {exc.problem}", "fix the syntax") from exc
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not readable as YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: the top level must be a mapping of settings, got {type(data).__name__}",
            "start from 'lakeforge new DIR' for a valid example",
        )
    return data


def overlay_environment(
    data: dict[str, Any], environ: Mapping[str, str]
) -> tuple[dict[str, Any], dict[tuple[str, ...], str]]:
    """Apply ``LAKEFORGE__A__B=value`` variables onto ``data``.

    Returns the merged data and, for each path set from the environment, the name of
    the variable, so errors can point at it rather than at the file.
    """
    merged: dict[str, Any] = dict(data)
    origins: dict[tuple[str, ...], str] = {}
    for variable, value in sorted(environ.items()):
        if not variable.startswith(ENV_PREFIX):
            continue
        path = tuple(part.lower() for part in variable[len(ENV_PREFIX) :].split("__"))
        if not all(path):
            raise ConfigError(f"environment variable {variable}: empty section in its name")
        node = merged
        for part in path[:-1]:
            child = node.get(part)
            child = dict(child) if isinstance(child, dict) else {}
            node[part] = child
            node = child
        node[path[-1]] = value
        origins[path] = variable
    return merged, origins


def describe_validation_error(
    error: ValidationError, path: Path, origins: Mapping[tuple[str, ...], str]
) -> str:
    """One line per problem: where, what, and the value that was given."""
    lines = []
    for problem in error.errors():
        location = tuple(str(part) for part in problem["loc"])
        field = ".".join(f"[{part}]" if part.isdigit() else part for part in location).replace(
            ".[", "["
        )
        source = origins.get(location)
        where = f"environment variable {source}" if source else f"{path}: {field or '(top)'}"
        message = problem["msg"]
        if problem["type"] == "extra_forbidden":
            message = "unknown setting (check its spelling against the documented ones)"
        given = problem.get("input")
        shown = "" if problem["type"] in ("missing", "extra_forbidden") else f" (got {given!r})"
        lines.append(f"{where}: {message}{shown}")
    return "\n  ".join(lines)


def load_pipeline(
    directory: Path | str = ".", environ: Mapping[str, str] | None = None
) -> Pipeline:
    """Load and validate the pipeline in ``directory``.

    Checks the file's structure here; :func:`lakeforge.spec.checks.check_pipeline`
    checks what needs the schemas (keys, rules).
    """
    folder = Path(directory)
    path = find_pipeline_file(folder)
    data, origins = overlay_environment(read_yaml(path), os.environ if environ is None else environ)
    data["directory"] = folder.resolve()
    try:
        return Pipeline.model_validate(data)
    except ValidationError as exc:
        count = exc.error_count()
        raise ConfigError(
            f"{path}: {count} problem{'s' if count > 1 else ''}:\n  "
            + describe_validation_error(exc, path, origins),
            "see examples/stocks/pipeline.yaml for a complete, valid pipeline",
        ) from None
