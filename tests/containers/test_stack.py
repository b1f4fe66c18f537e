"""The containerised stack through its containerised gateway, over real HTTP."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import yaml

from tests.containers.conftest import ROOT, Stack, inspect, podman

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


def compose_service(name: str) -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    service: dict[str, Any] = services[name]
    return service


@pytest.mark.parametrize("service", OUR_SERVICES)
def test_each_process_writes_nowhere_but_its_declared_volumes_and_tmpfs(
    stack: Stack, service: str
) -> None:
    """As Docker runs read_only: Podman would add tmpfs on /tmp, /run and /var/tmp."""
    running = inspect(stack.container(service))
    probe = f"{stack.container(service)}_probe"
    argv = ["run", "--name", probe, "--read-only", "--read-only-tmpfs=false"]
    argv += ["--label", f"io.podman.compose.project={stack.project}"]  # removed with the stack
    argv += [f"--network={network}" for network in running["NetworkSettings"]["Networks"]]
    argv += [f"--env={variable}" for variable in running["Config"]["Env"]]
    argv += [f"--tmpfs={path}" for path in compose_service(service).get("tmpfs", [])]
    for mount in running["Mounts"]:
        argv.append(
            f"--volume={mount['Name']}:{mount['Destination']}:{'rw' if mount['RW'] else 'ro'}"
        )
    command = running["Config"]["Cmd"]
    try:
        if service == "migrate":  # one-shot: it must finish, as often as it runs
            finished = podman(*argv, "--rm", stack.image, *command, timeout=120)
            assert finished.returncode == 0, finished.stdout + finished.stderr
            return
        assert podman(*argv, "--detach", stack.image, *command).returncode == 0
        health = compose_service(service)["healthcheck"]["test"][1:]  # after "CMD"
        healthy = eventually(lambda: podman("exec", probe, *health).returncode == 0, 60)
        assert healthy, podman("logs", probe).stderr[-2000:]
    finally:
        podman("rm", "--force", "--time", "1", probe)
