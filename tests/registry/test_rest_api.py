"""The REST API as raw HTTP: Confluent's paths, query forms, bodies and error codes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from lakeforge.registry import RegistryServer
from tests.registry.schema_edits import add_field, evolve, field_of

MEDIA_TYPE = "application/vnd.schemaregistry.v1+json"


@pytest.fixture
def http(server: RegistryServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=5) as client:
        yield client


def error_of(response: httpx.Response) -> tuple[int, int, str]:
    body = response.json()
    return response.status_code, body["error_code"], body["message"]


def register(http: httpx.Client, subject: str, schema: str, **extra: Any) -> httpx.Response:
    # The exact form confluent-kafka's client sends (?normalize=False, its content type).
    return http.post(
        f"/subjects/{subject}/versions?normalize=False",
        content=json.dumps({"schema": schema, "schemaType": "AVRO", "references": [], **extra}),
        headers={"Content-Type": MEDIA_TYPE},
    )


def test_register_then_read_back_every_way(
    http: httpx.Client, subject: str, trade_schema: str
) -> None:
    answer = register(http, subject, trade_schema)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == MEDIA_TYPE
    schema_id = answer.json()["id"]
    assert answer.json() == {"id": schema_id, "subject": subject, "version": 1}

    version = http.get(f"/subjects/{subject}/versions/latest").json()
    assert version == {
        "subject": subject, "version": 1, "id": schema_id, "schema": version["schema"],
    }  # fmt: skip
    assert json.loads(version["schema"]) == json.loads(trade_schema)
    assert http.get(f"/subjects/{subject}/versions/1/schema").json() == json.loads(trade_schema)
    assert http.get(f"/schemas/ids/{schema_id}", params={"subject": subject}).json() == {
        "schema": version["schema"]
    }
    assert http.get(f"/schemas/ids/{schema_id}/versions").json() == [
        {"subject": subject, "version": 1}
    ]
    assert http.get(f"/schemas/ids/{schema_id}/subjects").json() == [subject]
    listed = http.get("/subjects", params={"deleted": "False", "offset": 0, "limit": -1})
    assert subject in listed.json()
    assert http.get(f"/subjects/{subject}/versions?deleted=False&deleted_only=False").json() == [1]
    looked_up = http.post(
        f"/subjects/{subject}?normalize=False&deleted=False", json={"schema": trade_schema}
    )
    assert looked_up.json()["version"] == 1 and looked_up.json()["id"] == schema_id
    assert http.get("/schemas/types").json() == ["AVRO"]
    assert http.get("/").json() == {}


def test_a_subject_may_hold_a_slash(http: httpx.Client) -> None:
    assert register(http, "team%2Ftrades-value", '"string"').status_code == 200
    assert "team/trades-value" in http.get("/subjects").json()
    assert http.get("/subjects/team%2Ftrades-value/versions").json() == [1]


def test_compatibility_endpoint_explains_when_verbose(
    http: httpx.Client, subject: str, trade_schema: str
) -> None:
    register(http, subject, trade_schema)
    bad = evolve(trade_schema, add_field(name="venue", type="string"))
    path = f"/compatibility/subjects/{subject}/versions/latest"
    assert http.post(path, json={"schema": bad}).json() == {"is_compatible": False}
    verbose = http.post(f"{path}?normalize=False&verbose=True", json={"schema": bad}).json()
    assert verbose["is_compatible"] is False
    assert verbose["messages"][0].startswith("field 'venue': added without a default")
    good = evolve(trade_schema, add_field(name="venue", type="string", default=""))
    every = f"/compatibility/subjects/{subject}/versions?verbose=true"
    assert http.post(every, json={"schema": good}).json() == {"is_compatible": True, "messages": []}
    first = f"/compatibility/subjects/new-{subject}/versions/latest"
    assert http.post(first, json={"schema": bad}).json()["is_compatible"] is True


def test_incompatible_registration_is_409(
    http: httpx.Client, subject: str, trade_schema: str
) -> None:
    register(http, subject, trade_schema)
    bad = evolve(trade_schema, lambda s: field_of(s, "price").update(type="string"))
    status, code, message = error_of(register(http, subject, bad))
    assert (status, code) == (409, 409)
    assert "field 'price': type changed from double to string" in message


def test_config_global_and_per_subject(http: httpx.Client, subject: str) -> None:
    assert http.get("/config").json() == {"compatibilityLevel": "BACKWARD"}
    assert http.put(f"/config/{subject}", json={"compatibility": "full"}).json() == {
        "compatibility": "FULL"
    }
    assert http.get(f"/config/{subject}").json() == {"compatibilityLevel": "FULL"}
    assert error_of(http.get(f"/config/other-{subject}"))[:2] == (404, 40408)
    fallback = http.get(f"/config/other-{subject}?defaultToGlobal=true").json()
    assert fallback == {"compatibilityLevel": "BACKWARD"}
    assert http.delete(f"/config/{subject}").json() == {"compatibilityLevel": "FULL"}
    status, code, message = error_of(http.put("/config", json={"compatibility": "SIDEWAYS"}))
    assert (status, code) == (422, 42203)
    assert "'SIDEWAYS'" in message and "FULL_TRANSITIVE" in message


def test_deletion_soft_then_permanent(http: httpx.Client, subject: str) -> None:
    register(http, subject, '"string"')
    assert error_of(http.delete(f"/subjects/{subject}/versions/1?permanent=true"))[1] == 40407
    assert http.delete(f"/subjects/{subject}/versions/latest").json() == 1
    assert error_of(http.delete(f"/subjects/{subject}/versions/1"))[1] == 40406
    assert error_of(http.get(f"/subjects/{subject}/versions"))[1] == 40401
    assert http.get(f"/subjects/{subject}/versions?deleted=true").json() == [1]
    assert http.get(f"/subjects/{subject}/versions/1?deleted=true").json()["version"] == 1
    assert subject in http.get("/subjects?deleted_only=true").json()
    assert http.delete(f"/subjects/{subject}?permanent=true").json() == [1]
    assert error_of(http.delete(f"/subjects/{subject}"))[1] == 40401


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    [
        ("GET", "/subjects/nobody-value/versions", None, (404, 40401, "nobody-value")),
        ("GET", "/subjects/nobody-value/versions/latest", None, (404, 40401, "nobody-value")),
        ("GET", "/schemas/ids/424242", None, (404, 40403, "424242")),
        ("GET", "/schemas/ids/abc", None, (404, 40403, "'abc' is not a number")),
        ("POST", "/subjects/nobody-value", {"schema": '"int"'}, (404, 40401, "nobody-value")),
        ("GET", "/no/such/path", None, (404, 404, "no such endpoint")),
        ("PUT", "/subjects", None, (405, 405, "use GET")),
        ("POST", "/subjects/x-value/versions", {"schema": "{oops"}, (422, 42201, "not valid JSON")),
        ("POST", "/subjects/x-value/versions", {"schema": '{"type": "strin"}'},
         (422, 42201, "unknown type 'strin'")),
        ("POST", "/subjects/x-value/versions", {"schema": "syntax = 'proto3';",
         "schemaType": "PROTOBUF"}, (422, 42201, "schemaType 'PROTOBUF' is not supported")),
        ("POST", "/subjects/x-value/versions", {"schema": '"int"', "references": [{"name": "a"}]},
         (422, 42201, "references are not supported")),
        ("POST", "/subjects/x-value/versions", {"schemaa": '"int"'}, (422, 42201, '"schema"')),
        ("PUT", "/config", {"level": "FULL"}, (422, 42203, "compatibility")),
    ],
)  # fmt: skip
def test_mistakes_get_confluent_errors(
    http: httpx.Client, method: str, path: str, body: Any, expected: tuple[int, int, str]
) -> None:
    status, code, message = error_of(http.request(method, path, json=body))
    assert (status, code) == expected[:2]
    assert expected[2] in message


def test_versions_must_be_numbers_or_latest(http: httpx.Client, subject: str) -> None:
    register(http, subject, '"string"')
    for bad in ("0", "abc", "2147483648", "1.5"):
        status, code, message = error_of(http.get(f"/subjects/{subject}/versions/{bad}"))
        assert (status, code) == (422, 42202) and "'latest'" in message
    assert error_of(http.get(f"/subjects/{subject}/versions/9"))[:2] == (404, 40402)
    assert http.get(f"/subjects/{subject}/versions/-1").json()["version"] == 1


def test_bodies_must_be_json(http: httpx.Client, subject: str) -> None:
    headers = {"Content-Type": MEDIA_TYPE}
    broken = http.post(f"/subjects/{subject}/versions", content=b"{not json", headers=headers)
    status, code, message = error_of(broken)
    assert (status, code) == (400, 400) and "not valid JSON" in message
    form = http.post(f"/subjects/{subject}/versions", content=b"a=b",
                     headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert error_of(form)[:2] == (415, 415)
    status, code, _ = error_of(http.post(f"/subjects/{subject}/versions"))
    assert (status, code) == (422, 42201)  # no body at all
