"""Hostile input through the real gateway: always a 4xx, never a 5xx.

Tokens: every malformed, forged or out-of-policy token gets the same 401, with the same
message and `WWW-Authenticate: Bearer`, from both services (GET /auth/me is checked by
the auth service, POST /articles by the article service). The claim variations are
signed with the auth service's real private key, so only the variation is wrong.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import jwt
import pytest
from blog.auth.v1 import auth_pb2, auth_pb2_grpc
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.filters import RATE_LIMITED_MESSAGE
from tests.e2e.conftest import LOGIN_MAX_FAILURES, PASSWORD, User, start_gateway

CREDENTIALS = "Could not validate credentials"
ISSUER = "blog-auth"
AUDIENCE = "blog"
TYP = "at+jwt"
ARTICLE = {"title": "attack", "content": "0123456789"}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64json(value: object) -> str:
    return b64(json.dumps(value).encode())


@dataclass(frozen=True)
class Forge:
    """Mints tokens as the auth service would, then lets a test spoil one detail."""

    kid: str
    key: Ed25519PrivateKey
    public_pem: str
    user_id: int

    def claims(self, **changes: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": str(self.user_id),
            "iat": now,
            "exp": now + 600,
            "iss": ISSUER,
            "aud": AUDIENCE,
            "jti": secrets.token_urlsafe(16),
        }
        claims.update(changes)
        return {name: value for name, value in claims.items() if value is not None}

    def sign(
        self,
        claims: dict[str, Any] | None = None,
        *,
        key: Ed25519PrivateKey | None = None,
        **header: Any,
    ) -> str:
        headers = {"kid": self.kid, "typ": TYP, **header}
        headers = {name: value for name, value in headers.items() if value is not None}
        payload = self.claims() if claims is None else claims
        return jwt.encode(payload, key or self.key, "EdDSA", headers=headers)

    def sign_raw(self, header: dict[str, Any], claims: dict[str, Any]) -> str:
        """Sign what PyJWT would refuse to encode (e.g. a kid that is not a string)."""
        signing_input = f"{b64json({'alg': 'EdDSA', **header})}.{b64json(claims)}"
        return f"{signing_input}.{b64(self.key.sign(signing_input.encode()))}"

    def token(self, **changes: Any) -> str:
        """A token signed with the real key whose claims differ by `changes` (None drops)."""
        return self.sign(self.claims(**changes))


@pytest.fixture(scope="session")
async def public_pem(services) -> str:
    auth_port, _ = services
    async with grpc.aio.insecure_channel(f"127.0.0.1:{auth_port}") as channel:
        stub = auth_pb2_grpc.AuthServiceStub(channel)
        reply = await stub.ListPublicKeys(auth_pb2.ListPublicKeysRequest())
    [key] = reply.keys
    return key.public_key_pem


@pytest.fixture(scope="session")
def forge(keys_dir: Path, public_pem: str, users: dict[str, User]) -> Forge:
    [file] = sorted(keys_dir.glob("*.pem"))
    key = serialization.load_pem_private_key(file.read_bytes(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    return Forge(file.stem, key, public_pem, users["alice"].id)


@pytest.fixture
async def raw(gateway) -> AsyncIterator[httpx.AsyncClient]:
    """A client without the documented-status hook: some answers here are Envoy's own."""
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
        yield client


def flip_signature(token: str) -> str:
    head, payload, signature = token.split(".")
    middle = len(signature) // 2
    swapped = "A" if signature[middle] != "A" else "B"
    return f"{head}.{payload}.{signature[:middle]}{swapped}{signature[middle + 1 :]}"


def alg_none(forge: Forge) -> str:
    header = {"alg": "none", "kid": forge.kid, "typ": TYP}
    return f"{b64json(header)}.{b64json(forge.claims())}."


def hs256_with_public_pem(forge: Forge) -> str:
    header = {"alg": "HS256", "kid": forge.kid, "typ": TYP}
    signing_input = f"{b64json(header)}.{b64json(forge.claims())}"
    mac = hmac.new(forge.public_pem.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def garbage_json(forge: Forge) -> str:
    return f"{b64(b'{not json')}.{b64(b'{')}.{b64(b'sig')}"


def header_not_an_object(forge: Forge) -> str:
    return f"{b64json([1])}.{b64json(forge.claims())}.{b64(b'sig')}"


def other_key(forge: Forge, **header: Any) -> str:
    """Signed by an attacker's key, which the headers try to make us trust."""
    attacker = Ed25519PrivateKey.generate()
    raw_public = attacker.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64(raw_public), "kid": "attacker"}
    values: dict[str, Any] = {
        "jwk": jwk,
        "jku": "http://127.0.0.1:1/jwks.json",
        "x5u": "http://127.0.0.1:1/x",
    }
    chosen: dict[str, Any] = {
        name: values[name] if value is True else value for name, value in header.items()
    }
    return forge.sign(key=attacker, **chosen)


TOKENS: dict[str, Callable[[Forge], str]] = {
    "bad signature": lambda f: flip_signature(f.token()),
    "alg none": alg_none,
    "HS256 signed with the public key PEM": hs256_with_public_pem,
    "expired": lambda f: f.token(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600),
    "not yet valid (nbf)": lambda f: f.token(nbf=int(time.time()) + 3600),
    "iat in the future": lambda f: f.token(
        iat=int(time.time()) + 3600, exp=int(time.time()) + 4000
    ),
    "wrong iss": lambda f: f.token(iss="https://evil.example"),
    "wrong aud": lambda f: f.token(aud="someone-else"),
    "aud list without ours": lambda f: f.token(aud=["a", "b"]),
    "wrong typ": lambda f: f.sign(typ="JWT"),
    "no typ": lambda f: f.sign(typ=None),
    "refresh typ": lambda f: f.sign(typ="refresh+jwt"),
    **{
        f"missing {claim}": (lambda c: lambda f: f.token(**{c: None}))(claim)
        for claim in ("exp", "iat", "iss", "aud", "sub", "jti")
    },
    "exp not a number": lambda f: f.token(exp="tomorrow"),
    "sub a number": lambda f: f.token(sub=f.user_id),
    "sub a list": lambda f: f.token(sub=[str(f.user_id)]),
    "sub not digits": lambda f: f.token(sub="alice"),
    "sub negative": lambda f: f.token(sub="-1"),
    "sub zero": lambda f: f.token(sub="0"),
    "sub non-ascii digits": lambda f: f.token(sub="\u0663"),
    "sub beyond int32": lambda f: f.token(sub="2147483648"),
    "sub beyond int64": lambda f: f.token(sub="99999999999999999999"),
    "garbage base64": lambda f: "!!!.@@@.###",
    "garbage JSON": garbage_json,
    "header not an object": header_not_an_object,
    "two parts": lambda f: ".".join(f.token().split(".")[:2]),
    "four parts": lambda f: f.token() + ".x",
    "unknown kid": lambda f: other_key(f, kid="unknown-kid"),
    "kid a list": lambda f: f.sign_raw({"kid": [f.kid], "typ": TYP}, f.claims()),
    "kid a number": lambda f: f.sign_raw({"kid": 7, "typ": TYP}, f.claims()),
    "claims not an object": lambda f: f.sign_raw({"kid": f.kid, "typ": TYP}, [1, 2]),  # type: ignore[arg-type]
    "claims null": lambda f: f.sign_raw({"kid": f.kid, "typ": TYP}, None),  # type: ignore[arg-type]
    "kid path traversal": lambda f: other_key(f, kid="../../../../etc/passwd"),
    "jwk header with our kid": lambda f: other_key(f, jwk=True),
    "jwk header with its own kid": lambda f: other_key(f, jwk=True, kid="attacker"),
    "jku header": lambda f: other_key(f, jku=True),
    "jku header with unknown kid": lambda f: other_key(f, jku=True, kid="attacker"),
    "x5u header": lambda f: other_key(f, x5u=True),
    "big token, bad signature": lambda f: flip_signature(f.token(pad="x" * 2000)),
}
SCHEMES = {
    "bearer dots": "Bearer ..",
    "scheme only": "Bearer",
    "basic scheme": "Basic " + b64(b"alice:" + PASSWORD.encode()),
    "token without scheme": None,  # filled in with a valid token below
}


def assert_refused(reply: httpx.Response) -> None:
    assert reply.status_code == 401, (reply.status_code, reply.text)
    assert reply.json()["message"] == CREDENTIALS
    assert reply.headers["www-authenticate"] == "Bearer"


async def both_refuse(client: httpx.AsyncClient, authorization: str) -> None:
    headers = {"authorization": authorization}
    me, create = await asyncio.gather(
        client.get("/auth/me", headers=headers),
        client.post("/articles", json=ARTICLE, headers=headers),
    )
    assert_refused(me)
    assert_refused(create)


async def test_a_forged_token_with_every_detail_right_is_accepted(raw, forge):
    """The control: the forge signs like the auth service, so each case below is one flaw."""
    headers = {"authorization": f"Bearer {forge.token()}"}
    me = await raw.get("/auth/me", headers=headers)
    assert me.status_code == 200, me.text
    assert me.json()["id"] == forge.user_id
    created = await raw.post("/articles", json=ARTICLE, headers=headers)
    assert created.status_code == 201, created.text


@pytest.mark.parametrize("case", list(TOKENS))
async def test_a_bad_token_is_the_one_401_on_both_services(raw, forge, case):
    await both_refuse(raw, f"Bearer {TOKENS[case](forge)}")


@pytest.mark.parametrize("case", list(SCHEMES))
async def test_a_malformed_authorization_header_is_the_one_401(raw, forge, case):
    value = SCHEMES[case]
    await both_refuse(raw, value if value is not None else forge.token())


# Client mistakes in bodies, paths and queries: (method, path, raw JSON body or None).
ALICE_REQUESTS = {
    "NUL in title": ("POST", "/articles", '{"title": "\\u0000", "content": "0123456789"}'),
    "NUL in content": ("POST", "/articles", '{"title": "t", "content": "01234\\u000056789"}'),
    "lone surrogate title": ("POST", "/articles", '{"title": "\\ud800", "content": "0123456789"}'),
    "lone low surrogate": ("POST", "/articles", '{"title": "\\udc00x", "content": "0123456789"}'),
    "invalid UTF-8": ("POST", "/articles", b'{"title": "\xff\xfe", "content": "0123456789"}'),
    "title a number": ("POST", "/articles", '{"title": 123, "content": "0123456789"}'),
    "published maybe": (
        "POST",
        "/articles",
        '{"title": "t", "content": "0123456789", "published": "maybe"}',
    ),
    "published a number": (
        "POST",
        "/articles",
        '{"title": "t", "content": "0123456789", "published": 2}',
    ),
    "content an object": ("POST", "/articles", '{"title": "t", "content": {"a": 1}}'),
    "body a string": ("POST", "/articles", '"hello"'),
    "body null": ("POST", "/articles", "null"),
    "deep nesting": ("POST", "/articles", '{"title": ' + "[" * 5000 + "]" * 5000 + "}"),
    "huge number in body": ("POST", "/articles", '{"title": 1e999, "content": "0123456789"}'),
    "NUL in patch": ("PATCH", "/articles/1", '{"title": "\\u0000"}'),
    "id in body too large": ("PATCH", "/articles/1", '{"id": 99999999999999999999}'),
    "limit 1e30": ("GET", "/articles?limit=1e30", None),
    "skip 1e30": ("GET", "/articles?skip=1e30", None),
    "limit negative": ("GET", "/articles?limit=-1", None),
    "skip negative": ("GET", "/articles?skip=-5", None),
    "limit abc": ("GET", "/articles?limit=abc", None),
    "limit NUL": ("GET", "/articles?limit=%00", None),
    "id beyond int64": ("GET", "/articles/99999999999999999999", None),
    "id beyond int32": ("GET", "/articles/2147483648", None),
    "id negative": ("GET", "/articles/-1", None),
    "id float": ("GET", "/articles/1.5", None),
    "patch id beyond int64": ("PATCH", "/articles/99999999999999999999", '{"title": "t"}'),
    "delete id beyond int64": ("DELETE", "/articles/99999999999999999999", None),
    "delete id negative": ("DELETE", "/articles/-1", None),
    "register NUL username": (
        "POST",
        "/auth/register",
        '{"email": "n@example.com", "username": "a\\u0000b", "password": "correct horse"}',
    ),
    "register surrogate email": (
        "POST",
        "/auth/register",
        '{"email": "\\ud800@example.com", "username": "surr", "password": "correct horse"}',
    ),
    "register wrong types": (
        "POST",
        "/auth/register",
        '{"email": 1, "username": [], "password": {}}',
    ),
    "register huge password": (
        "POST",
        "/auth/register",
        json.dumps({"email": "h@example.com", "username": "hugepw", "password": "x" * 100_000}),
    ),
    "login NUL in form": ("POST", "/auth/login", "username=a%00b&password=x"),
    "login NUL in JSON": ("POST", "/auth/login", '{"username": "a\\u0000", "password": "x"}'),
    "login surrogate in JSON": ("POST", "/auth/login", '{"username": "\\ud800", "password": "x"}'),
    "login huge password": ("POST", "/auth/login", "username=alice&password=" + "x" * 100_000),
}


@pytest.mark.parametrize("case", list(ALICE_REQUESTS))
async def test_hostile_input_is_a_4xx_never_a_5xx(raw, alice, case):
    method, path, body = ALICE_REQUESTS[case]
    content_type = "application/json"
    if path == "/auth/login" and isinstance(body, str) and not body.startswith("{"):
        content_type = "application/x-www-form-urlencoded"
    content = body.encode() if isinstance(body, str) else body
    reply = await raw.request(
        method, path, content=content, headers={**alice.headers, "content-type": content_type}
    )
    assert 400 <= reply.status_code < 500, (reply.status_code, reply.text)
    assert reply.json()["message"]


async def test_an_oversized_body_is_a_413_even_when_streamed_in_chunks(raw, gateway, alice):
    limit = gateway.settings.max_request_body_bytes

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"title": "big", "content": "'
        for _ in range(limit // 4096 + 1):
            yield b"x" * 4096
        yield b'"}'

    reply = await raw.post(
        "/articles",
        content=chunks(),
        headers={**alice.headers, "content-type": "application/json"},
    )
    assert reply.status_code == 413, reply.text
    assert reply.json()["message"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/articles/1"),
        ("TRACE", "/articles"),
        ("TRACE", "/auth/me"),
        ("PROPFIND", "/articles"),
        ("CONNECT", "/articles"),
        ("DELETE", "/articles"),
        ("PUT", "/auth/me"),  # PATCH is UpdateCurrentUser now
    ],
)
async def test_an_unknown_method_is_a_4xx(raw, alice, method, path):
    reply = await raw.request(method, path, headers=alice.headers)
    assert 400 <= reply.status_code < 500, (reply.status_code, reply.text)


async def test_a_header_with_an_underscore_is_refused(raw, alice):
    reply = await raw.get("/auth/me", headers={**alice.headers, "x_user_id": "1"})
    assert reply.status_code == 400, reply.text


async def test_too_many_headers_are_refused(raw, gateway):
    count = gateway.settings.max_headers_count + 5
    headers = {f"x-filler-{i}": "1" for i in range(count)}
    reply = await raw.get("/articles", headers=headers)
    assert reply.status_code in (400, 431), reply.text


async def test_too_large_headers_are_refused(raw, gateway):
    size = gateway.settings.max_request_headers_kb * 1024 + 1
    reply = await raw.get("/articles", headers={"x-big": "x" * size})
    assert reply.status_code in (400, 431), reply.text


async def test_a_huge_authorization_header_is_refused_without_a_5xx(raw, gateway):
    size = gateway.settings.max_request_headers_kb * 1024 + 1
    reply = await raw.get("/auth/me", headers={"authorization": "Bearer " + "a" * size})
    assert reply.status_code in (400, 431), reply.text


async def test_headers_just_within_the_limits_reach_the_service(raw, gateway):
    """What Envoy lets through also fits the services' gRPC metadata limit."""
    fillers = gateway.settings.max_headers_count - 10  # httpx and the path add a few
    headers = {f"x-filler-{i:02}": "1" for i in range(fillers)}
    used = sum(len(name) + len(value) for name, value in headers.items())
    headers["x-big"] = "x" * (gateway.settings.max_request_headers_kb * 1024 - used - 400)
    for _ in range(20):  # grpc's soft limit rejects at random, so try a few times
        reply = await raw.get("/articles", headers=headers)
        assert reply.status_code == 200, reply.text


async def test_client_sent_forwarding_headers_never_reach_the_services(raw, gateway):
    """x-forwarded-for holds only the peer Envoy saw (use_remote_address, 0 trusted hops)."""
    marker = secrets.randbelow(10**9) + 10**9
    reply = await raw.get(
        "/articles",
        params={"limit": 3, "skip": marker},
        headers={
            "x-forwarded-for": "6.6.6.6",
            "x-envoy-external-address": "6.6.6.6",
            "x-real-ip": "6.6.6.6",
            "forwarded": "for=6.6.6.6",
        },
    )
    assert reply.status_code == 200, reply.text
    needle = f"skip={marker}"
    line = ""
    for _ in range(50):
        log = gateway.access_log.read_text() if gateway.access_log.exists() else ""
        line = next((x for x in log.splitlines() if needle in x), "")
        if line:
            break
        await asyncio.sleep(0.1)
    assert line, "no access log line"
    assert "6.6.6.6" not in line
    # One address, Envoy's: for a loopback peer Envoy appends its own local address.
    xff = line.rpartition(" xff=")[2]
    assert xff
    assert "," not in xff


async def test_the_login_route_is_rate_limited_per_gateway(services, tmp_path):
    """Over GATEWAY_LOGIN_RATE_PER_MINUTE, POST /auth/login answers a JSON 429; others pass."""
    rate = 3
    async with (
        start_gateway(services, tmp_path, login_rate_per_minute=rate) as limited,
        httpx.AsyncClient(base_url=limited.url, timeout=10) as client,
    ):
        # A different unknown name each time, so the auth service's own lock never fires.
        for _ in range(rate):
            name = f"nobody_{secrets.token_hex(4)}"
            reply = await client.post("/auth/login", data={"username": name, "password": "x"})
            assert reply.status_code == 401, reply.text
        refused = await client.post("/auth/login", data={"username": "again", "password": "x"})
        assert refused.status_code == 429, refused.text
        assert refused.headers["content-type"] == "application/json"
        body = refused.json()
        assert body == {"code": 8, "message": RATE_LIMITED_MESSAGE, "details": []}
        assert int(refused.headers["retry-after"]) > 0
        as_json = await client.post("/auth/login/", json={"username": "again", "password": "x"})
        assert as_json.status_code == 429
        # Only the login route is limited.
        assert (await client.get("/articles")).status_code == 200
        assert (await client.get("/auth/me")).status_code == 401


async def test_the_services_own_login_throttle_keeps_its_message(http):
    """Only the gateway's local 429 gets the rate-limit message."""
    name = f"e2e_locked_{secrets.token_hex(3)}"
    for _ in range(LOGIN_MAX_FAILURES + 1):
        reply = await http.post("/auth/login", data={"username": name, "password": "bad!"})
    assert reply.status_code == 429
    assert reply.json()["message"] != RATE_LIMITED_MESSAGE
