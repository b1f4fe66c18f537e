"""The containerised stack through its containerised gateway, over real HTTP."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Callable

import httpx
import pytest

from tests.containers.conftest import Stack, inspect, podman

# Bringing the stack up (PostgreSQL's initdb, migrations, bcrypt at cost 12 on two busy
# cores) takes a minute or so, and counts against the first test.
pytestmark = pytest.mark.timeout(600)

OUR_SERVICES = ("migrate", "auth", "articles", "gateway")


def register_and_login(client: httpx.Client) -> str:
    name = f"u{uuid.uuid4().hex[:12]}"
    created = client.post(
        "/auth/register",
        json={"email": f"{name}@example.com", "username": name, "password": "correct horse"},
    )
    assert created.status_code == 201, created.text
    login = client.post("/auth/login", data={"username": name, "password": "correct horse"})
    assert login.status_code == 200, login.text
    token: str = login.json()["access_token"]
    return token


def eventually(check: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.5)
    return False


def test_a_reader_registers_writes_reads_and_deletes_the_account(stack: Stack) -> None:
    with httpx.Client(base_url=stack.url, timeout=15) as client:
        token = register_and_login(client)
        bearer = {"authorization": f"Bearer {token}"}
        created = client.post(
            "/articles",
            headers=bearer,
            json={"title": "Hello", "content": "In a container.", "published": True},
        )
        assert created.status_code == 201, created.text
        article = created.json()
        read = client.get(f"/articles/{article['id']}")
        assert read.status_code == 200
        assert (read.json()["title"], read.json()["content"]) == ("Hello", "In a container.")

        assert client.delete("/auth/me", headers=bearer).status_code == 204
        refused = client.get("/auth/me", headers=bearer)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Bearer")
        # The deletion travels to the article service through the outbox feed.
        gone = eventually(lambda: client.get(f"/articles/{article['id']}").status_code == 404, 20)
        assert gone
        again = client.post(
            "/articles", headers=bearer, json={"title": "x", "content": "Not any more."}
        )
        assert again.status_code == 401


def test_the_gateway_serves_the_openapi_document_and_docs(stack: Stack) -> None:
    with httpx.Client(base_url=stack.url, timeout=15) as client:
        document = client.get("/openapi.json")
        assert document.status_code == 200
        assert "/articles/{id}" in document.json()["paths"]
        assert client.get("/docs").status_code == 200


def test_our_containers_run_as_a_numeric_non_root_user_on_a_read_only_root(stack: Stack) -> None:
    for service in OUR_SERVICES:
        container = inspect(stack.container(service))
        assert container["Config"]["User"] == "10001:10001", service
        assert container["HostConfig"]["ReadonlyRootfs"] is True, service
    policies = {
        service: inspect(stack.container(service))["HostConfig"]["RestartPolicy"]["Name"]
        for service in (*OUR_SERVICES, "postgres")
    }
    assert policies == {
        "migrate": "no",
        "auth": "unless-stopped",
        "articles": "unless-stopped",
        "gateway": "unless-stopped",
        "postgres": "unless-stopped",
    }


def test_the_image_holds_no_compiler_no_pip_and_the_descriptor_set(stack: Stack) -> None:
    probe = (
        "for tool in cc gcc c++ g++ make pip pip3; do command -v $tool; done; "
        "test -s /app/build/descriptors.binpb && echo descriptors"
    )
    found = podman("run", "--rm", "--read-only", stack.image, "sh", "-c", probe)
    assert found.stdout.split() == ["descriptors"], found.stdout + found.stderr


def test_a_killed_service_is_restarted_and_serves_again(stack: Stack) -> None:
    articles = stack.container("articles")
    before = inspect(articles)["State"]["Pid"]
    # From the host: inside its own PID namespace, PID 1 ignores SIGKILL.
    os.kill(before, signal.SIGKILL)
    assert eventually(lambda: inspect(articles)["State"]["Pid"] not in (0, before), 30)
    with httpx.Client(base_url=stack.url, timeout=15) as client:
        assert eventually(lambda: client.get("/articles?limit=1").status_code == 200, 60)


def test_the_data_survives_a_postgres_restart(stack: Stack) -> None:
    with httpx.Client(base_url=stack.url, timeout=15) as client:
        token = register_and_login(client)
        bearer = {"authorization": f"Bearer {token}"}
        created = client.post(
            "/articles",
            headers=bearer,
            json={"title": "Kept", "content": "Over a restart.", "published": True},
        )
        assert created.status_code == 201, created.text
        restarted = podman("restart", stack.container("postgres"))
        assert restarted.returncode == 0, restarted.stderr
        path = f"/articles/{created.json()['id']}"
        assert eventually(lambda: client.get(path).status_code == 200, 60)
        assert client.get(path).json()["title"] == "Kept"
