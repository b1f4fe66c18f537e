"""What the gateway itself decides: client mistakes, limits, CORS, docs, logs, health."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest

from gateway import openapi
from gateway.descriptors import load
from tests.e2e.conftest import ORIGIN


async def test_an_unknown_query_parameter_is_a_400_naming_it(http):
    reply = await http.get("/articles", params={"limt": 5})
    assert reply.status_code == 400
    assert reply.headers["content-type"] == "application/json"
    assert "limt" in reply.json()["message"]


async def test_an_unknown_json_field_is_ignored(http, alice):
    reply = await http.post(
        "/articles",
        json={"title": "t", "content": "0123456789", "tags": ["x"]},
        headers=alice.headers,
    )
    assert reply.status_code == 201, reply.text
    assert "tags" not in reply.json()


@pytest.mark.parametrize("body", [b"{not json", b"", b"[1, 2]", b'{"title": 5}'])
async def test_a_malformed_json_body_is_a_400(http, alice, body):
    reply = await http.post(
        "/articles",
        content=body,
        headers={**alice.headers, "content-type": "application/json"},
    )
    assert reply.status_code == 400, reply.text
    assert reply.json()["message"]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("PUT", "/articles/1", 405),
        ("POST", "/articles/1", 405),
        ("PATCH", "/articles", 405),
        ("GET", "/nope", 404),
    ],
)
async def test_a_wrong_method_is_a_json_405_and_a_wrong_path_a_404(http, method, path, status):
    reply = await http.request(method, path, json={})
    assert reply.status_code == status
    assert reply.headers["content-type"] == "application/json"
    assert reply.json()["message"]


async def test_a_body_over_the_limit_is_a_413(http, gateway, alice):
    limit = gateway.settings.max_request_body_bytes
    reply = await http.post(
        "/articles",
        json={"title": "big", "content": "x" * (limit + 1)},
        headers=alice.headers,
    )
    assert reply.status_code == 413
    assert reply.headers["content-type"] == "application/json"
    assert reply.json()["message"]
    just_under = await http.post(
        "/articles", json={"title": "big", "content": "x" * (limit - 100)}, headers=alice.headers
    )
    assert just_under.status_code == 201


async def test_openapi_json_is_the_document_generated_from_the_descriptors(http, gateway):
    reply = await http.get("/openapi.json")
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/json"
    expected = openapi.build(load(gateway.settings.descriptors), gateway.settings)
    assert reply.json() == expected


async def test_docs_is_an_interactive_page_whose_assets_are_served_locally(http):
    page = await http.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in page.text
    assert not re.search(r"(src|href)=\"https?://", page.text), "no CDN"
    assets = re.findall(r"(?:src|href)=\"(/docs/[^\"]+)\"", page.text)
    assert len(assets) == 2
    for asset in assets:
        served = await http.get(asset)
        assert served.status_code == 200
        assert len(served.content) > 10_000
    assert (await http.get("/docs/")).status_code == 200


async def test_a_preflight_from_an_allowed_origin_is_answered_by_the_gateway(http):
    reply = await http.options(
        "/articles/",
        headers={
            "origin": ORIGIN,
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization, content-type",
        },
    )
    assert reply.status_code == 200
    assert reply.headers["access-control-allow-origin"] == ORIGIN
    allowed_methods = reply.headers["access-control-allow-methods"]
    for method in ("GET", "POST", "PATCH", "DELETE"):
        assert method in allowed_methods
    allowed_headers = reply.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed_headers
    assert "content-type" in allowed_headers
    assert "access-control-allow-credentials" not in reply.headers


async def test_a_request_from_an_allowed_origin_gets_cors_headers(http):
    reply = await http.get("/articles", headers={"origin": ORIGIN})
    assert reply.status_code == 200
    assert reply.headers["access-control-allow-origin"] == ORIGIN


async def test_another_origin_gets_no_cors_headers(http):
    other = "http://evil.example"
    preflight = await http.options(
        "/articles", headers={"origin": other, "access-control-request-method": "POST"}
    )
    plain = await http.get("/articles", headers={"origin": other})
    for reply in (preflight, plain):
        assert not [name for name in reply.headers if name.startswith("access-control-")]
    assert preflight.status_code < 500


async def test_success_replies_carry_no_grpc_headers(http):
    reply = await http.get("/articles")
    assert not [name for name in reply.headers if name.startswith("grpc-")]


async def test_the_access_log_shows_the_rest_request_not_the_grpc_path(http, gateway):
    await http.get("/articles", params={"limit": 7})
    for _ in range(50):
        log = gateway.access_log.read_text() if gateway.access_log.exists() else ""
        if "GET /articles?limit=7" in log:
            break
        await asyncio.sleep(0.1)
    assert "GET /articles?limit=7" in log
    line = next(x for x in log.splitlines() if "GET /articles?limit=7" in x)
    assert " 200 " in line
    assert "grpc=OK" in line


async def test_envoy_health_checks_both_services_over_grpc(gateway):
    async with httpx.AsyncClient(base_url=gateway.admin_url) as admin:
        clusters = (await admin.get("/clusters")).text
        config = (await admin.get("/config_dump")).json()
    for name in ("auth", "articles"):
        assert re.search(rf"^{name}::.*::health_flags::healthy$", clusters, re.MULTILINE)
    assert "grpc_health_check" in str(config)


async def test_errors_reach_allowed_browsers_with_cors_headers(http):
    reply = await http.get("/auth/me", headers={"origin": ORIGIN})
    assert reply.status_code == 401
    assert reply.headers["access-control-allow-origin"] == ORIGIN
    assert "www-authenticate" in reply.headers["access-control-expose-headers"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/auth/login", b""),
        ("POST", "/auth/login", b"\xff\xfe"),
        ("POST", "/auth/register", b"[1]"),
        ("POST", "/auth/register", b'{"email": null}'),
        ("GET", "/articles?limit=abc", None),
        ("GET", "/articles?skip=99999999999", None),
        ("GET", "/articles?limit=5&limit=6", None),
        ("GET", "/articles/%00", None),
        ("DELETE", "/articles/abc", None),
        ("POST", "/articles", b"title=x"),
    ],
)
async def test_client_mistakes_are_4xx_json_never_5xx(http, alice, method, path, body):
    reply = await http.request(
        method,
        path,
        content=body,
        headers={**alice.headers, "content-type": "application/x-www-form-urlencoded"}
        if path == "/auth/login"
        else {**alice.headers, "content-type": "application/json"},
    )
    assert 400 <= reply.status_code < 500, reply.text
    assert reply.json()["message"]


async def test_every_documented_operation_is_served_and_answers_a_documented_status(http, document):
    for path, item in document["paths"].items():
        for verb, operation in item.items():
            concrete = re.sub(r"{[^}]+}", "1", path)
            body: dict[str, object] | None = {} if "requestBody" in operation else None
            reply = await http.request(verb.upper(), concrete, json=body)
            assert "Could not resolve" not in reply.text, f"{verb} {path} is not routed"
            # The response hook has already checked the status against the document.
            assert str(reply.status_code) in operation["responses"]


@pytest.mark.parametrize("path", ["/articles", "/articles/999999", "/nowhere", "/docs"])
async def test_replies_say_nosniff_and_name_no_server_software(http, path):
    reply = await http.get(path)
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert "server" not in reply.headers
