"""A small client of Superset's REST API: log in, find, create and update by name.

Superset's API takes a JWT (from ``/api/v1/security/login``) and, on every request that
changes something, a CSRF token bound to the session cookie; this client keeps both.
List filters travel as Rison (``q=(filters:!((col:x,opr:eq,value:'y')))``).
"""

from __future__ import annotations

from typing import Any

import httpx

from lakeforge.errors import TerminalError, TransientError

PAGE_SIZE = 100


def rison(value: object) -> str:
    """``value`` (dicts, lists, strings, numbers, booleans, None) in Rison notation."""
    if value is None:
        return "!n"
    if value is True:
        return "!t"
    if value is False:
        return "!f"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        # Quoting every string is always valid Rison; '!' escapes ' and itself.
        return "'" + value.replace("!", "!!").replace("'", "!'") + "'"
    if isinstance(value, dict):
        return "(" + ",".join(f"{key}:{rison(item)}" for key, item in value.items()) + ")"
    if isinstance(value, list | tuple):
        return "!(" + ",".join(rison(item) for item in value) + ")"
    raise TypeError(f"no Rison form for {type(value).__name__}")


class SupersetApiError(TerminalError):
    """Superset refused a request; the message carries its answer."""

    def __init__(self, what: str, hint: str | None = None, status: int = 0) -> None:
        super().__init__(what, hint)
        #: The HTTP status Superset answered with.
        self.status = status


class SupersetClient:
    """A logged-in session with one Superset server."""

    def __init__(self, url: str, timeout_s: float = 120.0) -> None:
        self.url = url
        self._http = httpx.Client(base_url=url, timeout=timeout_s)

    def login(self, username: str, password: str) -> SupersetClient:
        """Log in with Superset's database authentication; fetch a CSRF token."""
        try:
            answer = self._http.post(
                "/api/v1/security/login",
                json={"username": username, "password": password, "provider": "db"},
            )
        except httpx.HTTPError as error:
            raise TransientError(f"Superset at {self.url} did not answer: {error}") from error
        if answer.status_code != 200:
            raise SupersetApiError(
                f"Superset at {self.url} refused the login of {username!r} "
                f"(HTTP {answer.status_code})",
                "is it the Superset that lakeforge started for this pipeline?",
            )
        self._http.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
        token = self.request("GET", "/api/v1/security/csrf_token/")["result"]
        self._http.headers["X-CSRFToken"] = token
        self._http.headers["Referer"] = self.url
        return self

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send a request; return its JSON, or raise with what Superset said."""
        try:
            answer = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise TransientError(f"Superset at {self.url} did not answer: {error}") from error
        if answer.status_code >= 400:
            raise SupersetApiError(
                f"Superset answered {method} {path} with HTTP {answer.status_code}: "
                f"{_message(answer)}",
                status=answer.status_code,
            )
        return answer.json() if answer.content else None

    def find(self, resource: str, **equal: object) -> list[dict[str, Any]]:
        """Every ``resource`` (``chart``, ``dataset``...) whose fields equal ``equal``."""
        filters = [{"col": col, "opr": "eq", "value": value} for col, value in equal.items()]
        found: list[dict[str, Any]] = []
        page = 0
        while True:
            query = {"filters": filters, "page": page, "page_size": PAGE_SIZE}
            answer = self.request("GET", f"/api/v1/{resource}/", params={"q": rison(query)})
            found += answer["result"]
            if len(found) >= answer["count"] or not answer["result"]:
                return found
            page += 1

    def get(self, resource: str, key: int | str) -> dict[str, Any] | None:
        """One ``resource`` by id (or a dashboard by slug); None when there is none."""
        try:
            answer = self.request("GET", f"/api/v1/{resource}/{key}")
        except SupersetApiError as error:
            if error.status == 404:
                return None
            raise
        result: dict[str, Any] = answer["result"]
        return result

    def create(self, resource: str, body: dict[str, Any]) -> int:
        """Create a ``resource``; return its id."""
        return int(self.request("POST", f"/api/v1/{resource}/", json=body)["id"])

    def update(self, resource: str, key: int, body: dict[str, Any]) -> None:
        """Change fields of ``resource`` ``key``."""
        self.request("PUT", f"/api/v1/{resource}/{key}", json=body)

    def close(self) -> None:
        """End the session."""
        self._http.close()

    def __enter__(self) -> SupersetClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _message(answer: httpx.Response) -> str:
    try:
        body = answer.json()
    except ValueError:
        return answer.text[:500]
    if isinstance(body, dict) and isinstance(body.get("errors"), list):
        return "; ".join(str(error.get("message", error)) for error in body["errors"])[:1000]
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])[:1000]
    return str(body)[:1000]
