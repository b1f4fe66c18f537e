"""schemathesis against the gateway (a smoke run), and what fuzzing found, pinned one by one.

The deep run is `python -m faults.fuzz --deep` (part of `make faults`).
"""

from __future__ import annotations

import asyncio
import re
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import PASSWORD

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def raw(gateway):
    """A client without the documented-status hook (some answers here are not operations)."""
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
        yield client


async def test_schemathesis_finds_nothing(gateway, tmp_path):
    """Every check, all phases, a few examples per operation: 0 failures, 0 errors."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "faults.fuzz",
        "--url",
        gateway.url,
        "--smoke",
        "--keep",
        str(tmp_path),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    text = output.decode(errors="replace")
    assert process.returncode == 0, text[-8000:]
    assert re.search(r"schemathesis: \d+ test cases .* 0 failures, 0 errors", text), text[-2000:]


# --- findings ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        ("k+", "y"),  # a name HTTP allows but gRPC metadata does not
        ("x-data-bin", "!!!not base64"),  # binary metadata that is not base64
        ("grpc-timeout", "abc"),  # gRPC's own header, malformed
    ],
)
async def test_a_header_grpc_cannot_carry_is_dropped_not_a_500(raw, alice, header):
    name, value = header
    reply = await raw.get("/auth/me", headers={**alice.headers, name: value})
    assert reply.status_code == 200, reply.text
    reply = await raw.get("/auth/me", headers={name: value})
    assert reply.status_code == 401, reply.text


async def test_a_client_cannot_shorten_the_services_deadline(raw, alice):
    reply = await raw.get("/auth/me", headers={**alice.headers, "grpc-timeout": "1n"})
    assert reply.status_code == 200, reply.text


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("TRACE", "/articles", "GET, POST"),
        ("PUT", "/articles/1", "DELETE, GET, PATCH"),
        ("POST", "/auth/me", "DELETE, GET, PATCH"),
        ("FOO", "/auth/login", "POST"),
    ],
)
async def test_an_undeclared_method_answers_405_with_allow(raw, method, path, allow):
    reply = await raw.request(method, path)
    assert reply.status_code == 405, reply.text
    assert reply.headers["allow"] == allow
    assert reply.json() == {"code": 12, "message": "Method not allowed", "details": []}


async def test_a_patch_without_a_body_changes_nothing(http, alice):
    created = await http.post(
        "/articles",
        json={"title": "As it was", "content": "Nothing to change."},
        headers=alice.headers,
    )
    article = created.json()
    reply = await http.patch(f"/articles/{article['id']}", headers=alice.headers)
    assert reply.status_code == 200, reply.text
    assert reply.json()["etag"] == article["etag"]


async def test_null_means_not_sent_for_optional_fields(http, alice):
    created = await http.post(
        "/articles",
        json={
            "title": "Nulls",
            "content": "Optional fields.",
            "published": None,
            "request_id": None,
        },
        headers=alice.headers,
    )
    assert created.status_code == 201, created.text
    article = created.json()
    reply = await http.patch(
        f"/articles/{article['id']}",
        json={"title": None, "etag": None, "published": True},
        headers=alice.headers,
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["title"] == "Nulls"
    assert reply.json()["published"] is True


async def test_an_empty_property_name_is_a_400_as_documented(http, alice, document):
    schema = document["components"]["schemas"]["CreateArticleRequest"]
    assert schema["propertyNames"] == {"minLength": 1}
    reply = await http.post(
        "/articles",
        json={"": 1, "title": "Empty key", "content": "Refused."},
        headers=alice.headers,
    )
    assert reply.status_code == 400, reply.text


async def test_an_empty_request_id_is_none(http, alice):
    body = {"title": "No key", "content": "An empty request_id.", "request_id": ""}
    first = await http.post("/articles", json=body, headers=alice.headers)
    second = await http.post("/articles", json=body, headers=alice.headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]


def _pattern(document, message: str, name: str) -> re.Pattern[str]:
    return re.compile(document["components"]["schemas"][message]["properties"][name]["pattern"])


@pytest.mark.parametrize(
    ("email", "valid"),
    [
        ("plain@example.com", True),
        ("  padded@example.com\t", True),  # the service strips white space first
        ("feff\ufeff@example.com", True),  # white space to JSON Schema, not to Python
        ("fs\x1c@example.com", False),  # white space to Python, not to JSON Schema
        ("nel\x85@example.com", False),
        ("no-dot@example", False),
    ],
)
async def test_the_documented_email_pattern_is_what_the_service_accepts(
    http, document, email, valid
):
    assert bool(_pattern(document, "RegisterRequest", "email").search(email)) is valid
    name = f"em{uuid.uuid4().hex[:10]}"
    body = {"email": email.replace("@", f"{name}@", 1), "username": name, "password": PASSWORD}
    reply = await http.post("/auth/register", json=body)
    assert reply.status_code == (201 if valid else 400), reply.text


@pytest.mark.parametrize(
    ("title", "valid"),
    [("x", True), (" \u3000x ", True), ("\x1c\x1d", False), ("\ufeff", True), ("a\x00b", False)],
)
async def test_the_documented_title_pattern_is_what_the_service_accepts(
    http, document, alice, title, valid
):
    assert bool(_pattern(document, "CreateArticleRequest", "title").search(title)) is valid
    body = {"title": title, "content": "Whatever the title."}
    reply = await http.post("/articles", json=body, headers=alice.headers)
    assert reply.status_code == (201 if valid else 400), reply.text


async def test_a_padded_username_registers_stripped(http):
    name = f"pad{uuid.uuid4().hex[:8]}"
    body = {"email": f"{name}@example.com", "username": f" {name}\n", "password": PASSWORD}
    reply = await http.post("/auth/register", json=body)
    assert reply.status_code == 201, reply.text
    assert reply.json()["username"] == name


async def test_a_url_over_the_header_limit_is_a_documented_431(raw, gateway, document):
    query = "&".join(["skip=0"] * (gateway.settings.max_request_headers_kb * 1024 // 6))
    reply = await raw.get(f"/articles?{query}")
    assert reply.status_code == 431, reply.text
    assert reply.json()["message"]
    for item in document["paths"].values():
        for operation in item.values():
            assert {"429", "431", "503", "504"} <= operation["responses"].keys()
