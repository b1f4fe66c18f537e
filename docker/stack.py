"""Run docker-compose.yml with podman-compose: `python docker/stack.py up|down|status`.

up      start the services one by one in the order their depends_on conditions give,
        waiting for each condition as Docker Compose would: service_healthy runs the
        service's own health check until it passes, service_completed_successfully waits
        for the container to exit 0
down    stop and remove the containers and the network (--volumes: the volumes too)
status  each container's state and health

Podman 4.3 runs no health checks without systemd, and podman-compose turns depends_on
into --requires, which it cannot start through a chain (migrate -> postgres), so
`podman-compose up` alone does not bring the stack up there; this does, with
`podman-compose up --no-deps` per service. The compose file's variables (passwords,
BLOG_IMAGE, POSTGRES_IMAGE, GATEWAY_HOST_PORT) come from the environment.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from image import podman_env

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"


def compose(project: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "podman_compose", "-f", str(COMPOSE_FILE), "-p", project]
    return subprocess.run(
        [*argv, *args], env=podman_env(), cwd=ROOT, check=check, text=True, capture_output=True
    )


def podman(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", *args], env=podman_env(), check=False, text=True, capture_output=True
    )


def start_order(services: dict[str, Any]) -> list[str]:
    """Every service after the services it depends on."""
    order: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in path:
            raise ValueError(f"depends_on cycle: {' -> '.join((*path, name))}")
        if name not in order:
            for dependency in services[name].get("depends_on", {}):
                visit(dependency, (*path, name))
            order.append(name)

    for name in services:
        visit(name, ())
    return order


def container(project: str, service: str) -> str:
    found = podman(
        "ps",
        "--all",
        "--filter",
        f"label=io.podman.compose.project={project}",
        "--filter",
        f"label=com.docker.compose.service={service}",
        "--format",
        "{{.Names}}",
    )
    names = found.stdout.split()
    if len(names) != 1:
        raise RuntimeError(f"expected one container for {service}, found {names}")
    return names[0]


def state(name: str) -> dict[str, Any]:
    inspected: list[dict[str, Any]] = json.loads(podman("inspect", name).stdout)
    found: dict[str, Any] = inspected[0]["State"]
    return found


def failure(name: str, why: str) -> RuntimeError:
    logs = podman("logs", "--tail", "40", name)
    return RuntimeError(f"{name} {why}; its last log lines:\n{logs.stdout}{logs.stderr}")


def wait_healthy(name: str, timeout: float) -> None:
    """Run the container's health check (as a Docker engine would) until it passes."""
    deadline = time.monotonic() + timeout
    while podman("healthcheck", "run", name).returncode != 0:
        if not state(name)["Running"]:
            raise failure(name, "stopped before it was healthy")
        if time.monotonic() > deadline:
            raise failure(name, f"was not healthy within {timeout:.0f} s")
        time.sleep(1)


def wait_completed(name: str, timeout: float) -> None:
    try:
        waited = subprocess.run(
            ["podman", "wait", name],
            env=podman_env(),
            check=False,
            text=True,
            capture_output=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise failure(name, f"did not finish within {timeout:.0f} s") from None
    if waited.stdout.strip() != "0":
        raise failure(name, f"exited with {waited.stdout.strip() or waited.stderr.strip()}")


def up(project: str, timeout: float) -> None:
    services: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    for service in start_order(services):
        for dependency, rule in services[service].get("depends_on", {}).items():
            condition = rule.get("condition", "service_started")
            if condition == "service_healthy":
                wait_healthy(container(project, dependency), timeout)
            elif condition == "service_completed_successfully":
                wait_completed(container(project, dependency), timeout)
        started = compose(project, "up", "--detach", "--no-deps", service, check=False)
        if started.returncode != 0:
            raise RuntimeError(f"podman-compose up {service} failed:\n{started.stderr}")
        print(f"stack.py: {service} started", flush=True)
    # Nothing depends on the last ones; they count as up once healthy.
    for service in services:
        if services[service].get("healthcheck"):
            wait_healthy(container(project, service), timeout)
    print(f"stack.py: {project} is up", flush=True)


def down(project: str, volumes: bool) -> None:
    """Remove what podman-compose made for `project`, found by its label.

    `podman-compose down` would first need every variable the file requires (the
    passwords) just to interpolate it; removing by label needs nothing and also cleans
    up after a failed `up`.
    """
    label = f"label=io.podman.compose.project={project}"
    containers = podman("ps", "--all", "--quiet", "--filter", label).stdout.split()
    if containers:
        podman("rm", "--force", "--time", "10", *containers)
    for kind in ("network", *(["volume"] if volumes else [])):
        names = podman(kind, "ls", "--quiet", "--filter", label).stdout.split()
        if names:
            podman(kind, "rm", "--force", *names)
    left = podman("ps", "--all", "--quiet", "--filter", label).stdout.split()
    if left:
        raise RuntimeError(f"containers of {project} are left: {left}")


def status(project: str) -> None:
    listed = podman(
        "ps",
        "--all",
        "--filter",
        f"label=io.podman.compose.project={project}",
        "--format",
        "{{.Names}}\t{{.Status}}",
    )
    print(listed.stdout, end="")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="docker/stack.py", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["up", "down", "status"])
    parser.add_argument("--project", default="blog", help="compose project name (default blog)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per wait")
    parser.add_argument("--volumes", action="store_true", help="down: remove the volumes too")
    args = parser.parse_args(argv)
    try:
        if args.action == "up":
            up(args.project, args.timeout)
        elif args.action == "down":
            down(args.project, args.volumes)
        else:
            status(args.project)
    except RuntimeError as error:
        print(f"stack.py: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
