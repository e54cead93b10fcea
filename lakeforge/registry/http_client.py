"""A SchemaRegistry over the Confluent REST API: the cluster's registry, or ``lakeforge registry``.

Errors come back as the lakeforge errors the embedded registry raises, told apart by the
Confluent ``error_code`` of the response, so callers handle both registries alike. A
registry that cannot be reached is a TransientError: the caller decides about retrying,
and nothing here waits longer than the configured timeouts.
"""

from __future__ import annotations

from typing import Any, Protocol
from urllib.parse import quote

import httpx

from lakeforge.errors import ConfigError, LakeforgeError, SchemaError, TransientError
from lakeforge.registry.base import Compatibility, RegisteredSchema, SchemaRegistry
from lakeforge.registry.errors import ErrorCode, IncompatibleSchemaError, RegistryNotFoundError

_MEDIA_TYPE = "application/vnd.schemaregistry.v1+json"
_START_HINT = "start the registry (`lakeforge registry`) or fix the schema registry URL"


class Secret(Protocol):
    """A password that only shows itself when asked, such as pydantic's ``SecretStr``."""

    def get_secret_value(self) -> str:
        """Return the secret itself."""
        ...


class HttpRegistry(SchemaRegistry):
    """A Confluent-compatible schema registry at ``url``, with optional basic auth.

    Credentials are passed in (the caller reads them from the environment) and are never
    shown: not in errors, logs or ``repr``. Credentials in the URL itself are moved out of
    it for the same reason.
    """

    def __init__(
        self,
        url: str,
        *,
        username: str | None = None,
        password: str | Secret | None = None,
        timeout_s: float = 10.0,
        connect_timeout_s: float = 3.0,
    ) -> None:
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise ConfigError(f"invalid schema registry URL: {exc}") from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ConfigError(
                f"invalid schema registry URL {url!r}", "write it like http://127.0.0.1:8081"
            )
        if parsed.username and username is None:
            username, password = parsed.username, parsed.password
        self.url = str(parsed.copy_with(userinfo=b"")).rstrip("/")
        self._timeout_s = timeout_s
        auth = None
        if username is not None:
            secret = (
                password
                if password is None or isinstance(password, str)
                else password.get_secret_value()
            )
            auth = httpx.BasicAuth(username, secret or "")
        self._http = httpx.Client(
            base_url=self.url,
            auth=auth,
            timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s),
            headers={"Accept": f"{_MEDIA_TYPE}, application/json"},
        )
        # Ids are immutable in every Confluent-compatible registry, so this never goes stale.
        self._schema_by_id: dict[int, str] = {}

    def __repr__(self) -> str:
        return f"HttpRegistry({self.url!r})"

    def register(self, subject: str, schema: str) -> RegisteredSchema:
        """Register ``schema`` under ``subject``, or return the version that has it."""
        body = {"schema": schema, "schemaType": "AVRO"}
        answer = self._call("POST", f"/subjects/{_segment(subject)}/versions", body, subject)
        if {"version", "schema"} <= answer.keys():
            return _registered(subject, answer)
        # Most registries answer with the id alone; the version comes from a lookup.
        found = self.lookup(subject, schema)
        if found is None:
            raise TransientError(
                f"the schema registry at {self.url} registered a schema under subject "
                f"'{subject}' but then could not find it",
                "retry; the subject may have been deleted at the same time",
            )
        return found

    def lookup(self, subject: str, schema: str) -> RegisteredSchema | None:
        """Return the version of ``subject`` holding ``schema``, or None if it has none."""
        body = {"schema": schema, "schemaType": "AVRO"}
        try:
            return _registered(subject, self._call("POST", f"/subjects/{_segment(subject)}", body))
        except RegistryNotFoundError as exc:
            if exc.code in (ErrorCode.SUBJECT_NOT_FOUND, ErrorCode.SCHEMA_NOT_FOUND):
                return None
            raise

    def schema_by_id(self, schema_id: int) -> str:
        """Return the schema text with this global id (cached)."""
        cached = self._schema_by_id.get(schema_id)
        if cached is None:
            cached = str(self._call("GET", f"/schemas/ids/{int(schema_id)}")["schema"])
            self._schema_by_id[schema_id] = cached
        return cached

    def version(self, subject: str, number: int | None) -> RegisteredSchema:
        """Return version ``number`` of ``subject``, or its newest when ``number`` is None."""
        which = "latest" if number is None else str(int(number))
        return _registered(
            subject, self._call("GET", f"/subjects/{_segment(subject)}/versions/{which}")
        )

    def latest(self, subject: str) -> RegisteredSchema:
        """Return the newest version of ``subject``."""
        return self.version(subject, None)

    def versions(self, subject: str) -> list[RegisteredSchema]:
        """Return every live version of ``subject``, oldest first; empty if unknown."""
        try:
            numbers = self._call("GET", f"/subjects/{_segment(subject)}/versions")
        except RegistryNotFoundError:
            return []
        return [self.version(subject, int(n)) for n in sorted(numbers)]

    def subjects(self) -> list[str]:
        """List every subject with a live version."""
        return sorted(str(s) for s in self._call("GET", "/subjects"))

    def compatibility_problems(self, subject: str, schema: str) -> list[str]:
        """Ask the registry why ``schema`` could not be registered under ``subject`` now.

        Uses the all-versions check (Confluent Platform 7 and later), which applies the
        subject's level, transitive or not.
        """
        body = {"schema": schema, "schemaType": "AVRO"}
        path = f"/compatibility/subjects/{_segment(subject)}/versions?verbose=true"
        try:
            answer = self._call("POST", path, body, subject)
        except RegistryNotFoundError as exc:
            if exc.code == ErrorCode.SUBJECT_NOT_FOUND:
                return []  # nothing registered yet: any schema may start the subject
            raise
        if answer.get("is_compatible", False):
            return []
        return [str(m) for m in answer.get("messages") or ["incompatible (no reason given)"]]

    def set_compatibility(self, level: str, subject: str | None = None) -> Compatibility:
        """Set the level of ``subject``, or the global level when it is None."""
        path = "/config" if subject is None else f"/config/{_segment(subject)}"
        answer = self._call("PUT", path, {"compatibility": str(level).upper()})
        return Compatibility(answer["compatibility"])

    def get_compatibility(self, subject: str | None = None) -> Compatibility:
        """Return the level that applies to ``subject`` (the global level when None)."""
        path = "/config" if subject is None else f"/config/{_segment(subject)}"
        answer = self._call("GET", f"{path}?defaultToGlobal=true")
        return Compatibility(answer["compatibilityLevel"])

    def delete_subject(self, subject: str, *, permanent: bool = False) -> list[int]:
        """Soft-delete a subject, or hard-delete a soft-deleted one; return its versions."""
        query = "?permanent=true" if permanent else ""
        return [int(v) for v in self._call("DELETE", f"/subjects/{_segment(subject)}{query}")]

    def delete_version(self, subject: str, number: int, *, permanent: bool = False) -> int:
        """Soft-delete one version, or hard-delete a soft-deleted one."""
        query = "?permanent=true" if permanent else ""
        path = f"/subjects/{_segment(subject)}/versions/{int(number)}{query}"
        return int(self._call("DELETE", path))

    def close(self) -> None:
        """Close the HTTP connections."""
        self._http.close()

    def _call(self, method: str, path: str, body: Any = None, subject: str = "") -> Any:
        try:
            response = self._http.request(method, path, json=body)
        except httpx.ConnectError as exc:
            raise TransientError(
                f"cannot connect to the schema registry at {self.url}: {exc}", _START_HINT
            ) from None
        except httpx.TimeoutException:
            raise TransientError(
                f"the schema registry at {self.url} did not answer {method} {path.split('?')[0]} "
                f"within {self._timeout_s:g} s",
                "retry later; if it persists, check the registry's health",
            ) from None
        except httpx.TransportError as exc:
            raise TransientError(
                f"talking to the schema registry at {self.url} failed: {exc}", _START_HINT
            ) from None
        if response.is_success:
            try:
                return response.json()
            except ValueError:
                raise ConfigError(
                    f"{self.url} answered {method} {path} with something other than JSON",
                    "check that the URL points at a schema registry",
                ) from None
        raise self._error(response, subject)

    def _error(self, response: httpx.Response, subject: str) -> LakeforgeError:
        """Turn a Confluent error response into the lakeforge error it stands for."""
        status = response.status_code
        try:
            body = response.json()
            code, message = int(body.get("error_code", status)), str(body.get("message", ""))
        except (ValueError, AttributeError, TypeError):
            body, code, message = {}, status, response.text[:200]
        where = f"the schema registry at {self.url}"
        if status in (401, 403):
            return ConfigError(
                f"{where} refused the credentials (HTTP {status})",
                "check the registry username and password given in the environment",
            )
        if code == ErrorCode.INCOMPATIBLE_SCHEMA:
            problems = body.get("messages") or [message]
            what = f"{where} refused the schema for subject '{subject}' as incompatible"
            return IncompatibleSchemaError(what, [str(p) for p in problems])
        if 40400 <= code < 40500:
            return RegistryNotFoundError(code, f"{where}: {message}")
        if code == ErrorCode.INVALID_SCHEMA:
            return SchemaError(f"{where} refused the schema: {message}")
        if status >= 500 or status in (408, 429):
            return TransientError(f"{where} failed (HTTP {status}): {message}", "retry later")
        return ConfigError(
            f"{where} refused the request (HTTP {status}, error {code}): {message}",
            "check the schema registry URL and the values passed",
        )


def _segment(text: str) -> str:
    """Quote a subject as one path segment: subjects may hold '/'."""
    return quote(text, safe="")


def _registered(subject: str, answer: dict[str, Any]) -> RegisteredSchema:
    return RegisteredSchema(
        subject=str(answer.get("subject", subject)),
        version=int(answer["version"]),
        schema_id=int(answer["id"]),
        schema=str(answer["schema"]),
    )
