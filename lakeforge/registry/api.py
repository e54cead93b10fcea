"""The Confluent Schema Registry REST API, as plain functions over an EmbeddedRegistry.

Each endpoint takes a parsed request and returns the JSON body to send; errors are
lakeforge errors or :class:`ApiError`, which the server turns into Confluent error bodies.
The HTTP plumbing lives in :mod:`lakeforge.registry.server`. Request and response fields
follow what Confluent's own clients (confluent-kafka's ``SchemaRegistryClient``) send and
read; Avro is the one schema type, and schema references are not supported.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lakeforge.registry.base import RegisteredSchema
from lakeforge.registry.errors import ErrorCode, RegistryNotFoundError
from lakeforge.registry.store import EmbeddedRegistry

_MAX_VERSION = 2**31 - 1


class ApiError(Exception):
    """A request the API refuses before it reaches the registry (bad path, body, version)."""

    def __init__(self, code: int, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(message)


@dataclass(frozen=True)
class Request:
    """One API request: path parameters, query parameters and the parsed JSON body."""

    params: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    body: Any = None

    def flag(self, name: str) -> bool:
        """Read a boolean query parameter; clients send true, True, false or False."""
        return self.query.get(name, "false").lower() == "true"


Endpoint = Callable[[EmbeddedRegistry, Request], Any]
ROUTES: list[tuple[str, tuple[str, ...], Endpoint]] = []


def route(method: str, path: str) -> Callable[[Endpoint], Endpoint]:
    """Add the decorated function to :data:`ROUTES` for ``method`` and ``path``."""

    def add(endpoint: Endpoint) -> Endpoint:
        ROUTES.append((method, tuple(path.strip("/").split("/")), endpoint))
        return endpoint

    return add


def find_endpoint(method: str, segments: list[str]) -> tuple[Endpoint, dict[str, str]]:
    """Match decoded path segments to an endpoint; ApiError 404 or 405 when none fits."""
    methods_allowed = []
    for route_method, pattern, endpoint in ROUTES:
        if len(pattern) != len(segments):
            continue
        params = {}
        for part, segment in zip(pattern, segments, strict=True):
            if part.startswith("{"):
                params[part[1:-1]] = segment
            elif part != segment:
                break
        else:
            if route_method == method:
                return endpoint, params
            methods_allowed.append(route_method)
    if methods_allowed:
        raise ApiError(405, f"HTTP 405 Method Not Allowed: use {', '.join(methods_allowed)}")
    raise ApiError(404, "HTTP 404 Not Found: no such endpoint in the schema registry API")


def _version(text: str) -> int | None:
    """Read a version path parameter: None for the latest, else 1 to 2**31-1 (42202)."""
    if text in ("latest", "-1"):
        return None
    if text.isdigit() and 1 <= int(text) <= _MAX_VERSION:
        return int(text)
    raise ApiError(
        ErrorCode.INVALID_VERSION,
        f"the version '{text}' is not valid: use a number from 1 to {_MAX_VERSION} or 'latest'",
    )


def _schema_id(text: str) -> int:
    if not text.isdigit():
        raise ApiError(ErrorCode.SCHEMA_NOT_FOUND, f"schema id '{text}' is not a number")
    return int(text)


def _schema_text(body: Any) -> str:
    """Take the Avro schema text out of a register, lookup or compatibility request."""
    if not isinstance(body, dict) or not isinstance(body.get("schema"), str):
        raise ApiError(
            ErrorCode.INVALID_SCHEMA,
            'the body must be a JSON object with a "schema" string holding the schema as '
            'JSON text, e.g. {"schema": "{\\"type\\": \\"string\\"}"}',
        )
    schema_type = body.get("schemaType") or "AVRO"
    if str(schema_type).upper() != "AVRO":
        raise ApiError(
            ErrorCode.INVALID_SCHEMA,
            f"schemaType {schema_type!r} is not supported: this registry stores AVRO schemas only",
        )
    if body.get("references"):
        raise ApiError(ErrorCode.INVALID_SCHEMA, "schema references are not supported here")
    return str(body["schema"])


def _page(items: list[Any], request: Request) -> list[Any]:
    try:
        offset = max(int(request.query.get("offset") or 0), 0)
        limit = int(request.query.get("limit") or -1)
    except ValueError:
        raise ApiError(400, "offset and limit must be whole numbers") from None
    return items[offset:] if limit < 0 else items[offset : offset + limit]


def _as_json(found: RegisteredSchema) -> dict[str, Any]:
    return {
        "subject": found.subject,
        "version": found.version,
        "id": found.schema_id,
        "schema": found.schema,
    }


@route("GET", "/")
def _root(registry: EmbeddedRegistry, request: Request) -> Any:
    return {}


@route("GET", "/subjects")
def _list_subjects(registry: EmbeddedRegistry, request: Request) -> Any:
    subjects = registry.subjects(include_deleted=request.flag("deleted"))
    if request.flag("deleted_only"):
        live = set(registry.subjects())
        subjects = [s for s in registry.subjects(include_deleted=True) if s not in live]
    prefix = request.query.get("subjectPrefix", "")
    return _page([s for s in subjects if s.startswith(prefix)], request)


@route("GET", "/subjects/{subject}/versions")
def _list_versions(registry: EmbeddedRegistry, request: Request) -> Any:
    subject = request.params["subject"]
    everything = registry.versions(subject, include_deleted=True)
    live = {v.version for v in registry.versions(subject)}
    if not everything or not (live or request.flag("deleted") or request.flag("deleted_only")):
        raise RegistryNotFoundError(ErrorCode.SUBJECT_NOT_FOUND, f"subject '{subject}' not found")
    if request.flag("deleted_only"):
        numbers = [v.version for v in everything if v.version not in live]
    elif request.flag("deleted"):
        numbers = [v.version for v in everything]
    else:
        numbers = sorted(live)
    return _page(numbers, request)


@route("GET", "/subjects/{subject}/versions/{version}")
def _get_version(registry: EmbeddedRegistry, request: Request) -> Any:
    number = _version(request.params["version"])
    found = registry.version(
        request.params["subject"], number, include_deleted=request.flag("deleted")
    )
    return _as_json(found)


@route("GET", "/subjects/{subject}/versions/{version}/schema")
def _get_version_schema(registry: EmbeddedRegistry, request: Request) -> Any:
    return json.loads(_get_version(registry, request)["schema"])


@route("GET", "/subjects/{subject}/versions/{version}/referencedby")
def _referenced_by(registry: EmbeddedRegistry, request: Request) -> Any:
    _get_version(registry, request)  # 404 for an unknown version; nothing references any
    return []


@route("POST", "/subjects/{subject}/versions")
def _register(registry: EmbeddedRegistry, request: Request) -> Any:
    found = registry.register(request.params["subject"], _schema_text(request.body))
    return {"id": found.schema_id, "subject": found.subject, "version": found.version}


@route("POST", "/subjects/{subject}")
def _lookup(registry: EmbeddedRegistry, request: Request) -> Any:
    subject = request.params["subject"]
    deleted = request.flag("deleted")
    found = registry.lookup(subject, _schema_text(request.body), include_deleted=deleted)
    if found is not None:
        return _as_json(found)
    if not registry.versions(subject, include_deleted=deleted):
        raise RegistryNotFoundError(ErrorCode.SUBJECT_NOT_FOUND, f"subject '{subject}' not found")
    raise RegistryNotFoundError(
        ErrorCode.SCHEMA_NOT_FOUND, f"the schema is not registered under subject '{subject}'"
    )


@route("DELETE", "/subjects/{subject}")
def _delete_subject(registry: EmbeddedRegistry, request: Request) -> Any:
    return registry.delete_subject(request.params["subject"], permanent=request.flag("permanent"))


@route("DELETE", "/subjects/{subject}/versions/{version}")
def _delete_version(registry: EmbeddedRegistry, request: Request) -> Any:
    number = _version(request.params["version"])
    permanent = request.flag("permanent")
    return registry.delete_version(request.params["subject"], number, permanent=permanent)


@route("GET", "/schemas/ids/{id}")
def _get_schema(registry: EmbeddedRegistry, request: Request) -> Any:
    # ?subject= only narrows the search in Confluent's multi-context registries.
    return {"schema": registry.schema_by_id(_schema_id(request.params["id"]))}


@route("GET", "/schemas/ids/{id}/schema")
def _get_raw_schema(registry: EmbeddedRegistry, request: Request) -> Any:
    return json.loads(registry.schema_by_id(_schema_id(request.params["id"])))


@route("GET", "/schemas/ids/{id}/versions")
def _schema_versions(registry: EmbeddedRegistry, request: Request) -> Any:
    uses = registry.uses_of(
        _schema_id(request.params["id"]), include_deleted=request.flag("deleted")
    )
    return _page([{"subject": s, "version": v} for s, v in uses], request)


@route("GET", "/schemas/ids/{id}/subjects")
def _schema_subjects(registry: EmbeddedRegistry, request: Request) -> Any:
    uses = registry.uses_of(
        _schema_id(request.params["id"]), include_deleted=request.flag("deleted")
    )
    return _page(list(dict.fromkeys(s for s, _ in uses)), request)


@route("GET", "/schemas/types")
def _schema_types(registry: EmbeddedRegistry, request: Request) -> Any:
    return ["AVRO"]


@route("GET", "/mode")
def _mode(registry: EmbeddedRegistry, request: Request) -> Any:
    return {"mode": "READWRITE"}  # no import mode: ids are always assigned here


@route("GET", "/config")
@route("GET", "/config/{subject}")
def _get_config(registry: EmbeddedRegistry, request: Request) -> Any:
    subject = request.params.get("subject")
    level = registry.get_compatibility(subject, fallback=request.flag("defaultToGlobal"))
    if level is None:
        raise RegistryNotFoundError(
            ErrorCode.SUBJECT_LEVEL_CONFIG_NOT_FOUND,
            f"subject '{subject}' has no compatibility level of its own; "
            "ask with ?defaultToGlobal=true for the level that applies",
        )
    return {"compatibilityLevel": level.value}


@route("PUT", "/config")
@route("PUT", "/config/{subject}")
def _set_config(registry: EmbeddedRegistry, request: Request) -> Any:
    body = request.body if isinstance(request.body, dict) else {}
    level = body.get("compatibility") or body.get("compatibilityLevel")
    if not isinstance(level, str):
        raise ApiError(
            ErrorCode.INVALID_COMPATIBILITY_LEVEL,
            'the body must be a JSON object like {"compatibility": "BACKWARD"}',
        )
    return {"compatibility": registry.set_compatibility(level, request.params.get("subject"))}


@route("DELETE", "/config")
@route("DELETE", "/config/{subject}")
def _delete_config(registry: EmbeddedRegistry, request: Request) -> Any:
    subject = request.params.get("subject")
    old = registry.delete_compatibility(subject)
    if old is None:
        raise RegistryNotFoundError(
            ErrorCode.SUBJECT_LEVEL_CONFIG_NOT_FOUND,
            f"subject '{subject}' has no compatibility level of its own",
        )
    return {"compatibilityLevel": old.value}


@route("POST", "/compatibility/subjects/{subject}/versions/{version}")
@route("POST", "/compatibility/subjects/{subject}/versions")
def _check_compatibility(registry: EmbeddedRegistry, request: Request) -> Any:
    subject, schema = request.params["subject"], _schema_text(request.body)
    version = request.params.get("version")
    number = None if version is None else _version(version)
    if number is None and not registry.versions(subject):
        problems: list[str] = []  # anything may start a subject
    elif number is None and version is not None:
        problems = registry.compatibility_problems(
            subject, schema, against=registry.latest(subject).version
        )
    else:
        problems = registry.compatibility_problems(subject, schema, against=number)
    answer: dict[str, Any] = {"is_compatible": not problems}
    if request.flag("verbose"):
        answer["messages"] = problems
    return answer
