"""Read ``pipeline.yaml``, layer the environment over it, and validate it.

Layers, later ones win: the file; then the profile file ``profiles/<profile>.yaml``
beside it, if there is one (connection settings: ``kafka``, ``registry``, ``stream``,
``state_dir``), so that one pipeline runs in several places unchanged; then
``LAKEFORGE__SECTION__KEY`` environment variables (``LAKEFORGE__STREAM__BATCH_ROWS=50000``,
``LAKEFORGE__KAFKA__BOOTSTRAP_SERVERS=broker:9092``). Passwords come only from the
environment or from files of their own (``*_file`` settings), never from these files.
Every mistake is reported with the file, the field path and what is allowed; nothing
runs on an invalid pipeline.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from lakeforge.errors import ConfigError, NotFoundError
from lakeforge.spec.model import SECRET_SETTINGS, Pipeline

PIPELINE_FILE = "pipeline.yaml"
ENV_PREFIX = "LAKEFORGE__"
#: The folder of profile files, beside ``pipeline.yaml``.
PROFILES_DIR = "profiles"
#: What a profile file may set: where the pipeline runs, never what it does.
PROFILE_KEYS = ("kafka", "registry", "stream", "state_dir")


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

    Returns the merged data and, for each path set from the environment, where it came
    from (``environment variable NAME``), so errors can point at it rather than at the file.
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
        origins[path] = f"environment variable {variable}"
    return merged, origins


def profile_file(directory: Path, data: Mapping[str, Any], environ: Mapping[str, str]) -> Path:
    """Where the chosen profile's file would be (it need not exist)."""
    chosen = str(environ.get(f"{ENV_PREFIX}PROFILE") or data.get("profile") or "local")
    # A name that is no profile is refused by validation; never a path out of the folder.
    name = chosen if re.fullmatch(r"[a-z][a-z0-9_-]{0,62}", chosen) else "local"
    return directory / PROFILES_DIR / f"{name}.yaml"


def overlay_profile(
    data: dict[str, Any], path: Path
) -> tuple[dict[str, Any], dict[tuple[str, ...], str]]:
    """Layer the profile file at ``path`` over ``data``, section by section."""
    layer = read_yaml(path)
    unknown = sorted(set(layer) - set(PROFILE_KEYS))
    if unknown:
        raise ConfigError(
            f"{path}: a profile file says where the pipeline runs, not what it does; "
            f"it cannot set {', '.join(unknown)}",
            f"keep to {', '.join(PROFILE_KEYS)}; the rest belongs in {PIPELINE_FILE}",
        )
    merged = dict(data)
    origins: dict[tuple[str, ...], str] = {}
    for key, value in layer.items():
        below = merged.get(key)
        if isinstance(value, dict):
            merged[key] = {**below, **value} if isinstance(below, dict) else value
            origins |= {(key, str(name)): str(path) for name in value}
        else:
            merged[key] = value
            origins[(key,)] = str(path)
    return merged, origins


def refuse_written_secrets(
    data: Mapping[str, Any], origins: Mapping[tuple[str, ...], str], path: Path
) -> None:
    """Refuse a password read from a file: it belongs in the environment or a secret file."""
    for setting in SECRET_SETTINGS:
        section = data.get(setting[0])
        if not isinstance(section, dict) or section.get(setting[1]) is None:
            continue
        source = origins.get(setting, str(path))
        if source.startswith("environment variable"):
            continue
        variable = ENV_PREFIX + "__".join(setting).upper()
        raise ConfigError(
            f"{source}: {'.'.join(setting)} holds a password; lakeforge never reads "
            "passwords from pipeline or profile files (they end up in version control)",
            f"remove it, and set {variable} in the environment or "
            f"{'.'.join(setting)}_file to a file holding only the password",
        )


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
        if source is None or not source.startswith("environment variable"):
            where = f"{source or path}: {field or '(top)'}"
        else:
            where = source
        message = problem["msg"]
        if problem["type"] == "extra_forbidden":
            message = "unknown setting (check its spelling against the documented ones)"
        given = _masked(location, problem.get("input"))
        shown = "" if problem["type"] in ("missing", "extra_forbidden") else f" (got {given!r})"
        lines.append(f"{where}: {message}{shown}")
    return "\n  ".join(lines)


def _masked(location: tuple[str, ...], value: Any) -> Any:
    """``value`` with passwords replaced, so an error about a setting never shows one."""
    if location and "password" in location[-1]:
        return "********"
    if isinstance(value, dict):
        return {k: _masked((*location, str(k)), v) for k, v in value.items()}
    return value


def load_pipeline(
    directory: Path | str = ".", environ: Mapping[str, str] | None = None
) -> Pipeline:
    """Load and validate the pipeline in ``directory``.

    Checks the file's structure here; :func:`lakeforge.spec.checks.check_pipeline`
    checks what needs the schemas (keys, rules).
    """
    folder = Path(directory)
    path = find_pipeline_file(folder)
    environ = os.environ if environ is None else environ
    data = read_yaml(path)
    origins: dict[tuple[str, ...], str] = {}
    profile_path = profile_file(folder, data, environ)
    if profile_path.is_file():
        data, origins = overlay_profile(data, profile_path)
    data, from_environment = overlay_environment(data, environ)
    origins |= from_environment
    refuse_written_secrets(data, origins, path)
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
