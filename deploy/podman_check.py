"""`python -m deploy.podman_check [--replicas N]`: run the dev overlay's pods under Podman.

No cluster runs here, so this plays the cluster's part for what the containers see: it
renders deploy/overlays/dev with kustomize and starts each pod's containers from it, with
their commands, environment (Secrets from deploy.secrets), user, read-only root, dropped
capabilities, and the Secret and ConfigMap mounts; the Services' DNS names are network
aliases, so N replicas of a service share one name as behind a headless Service. Then the
migrate Job's containers run in order, each service must report SERVING, Envoy must list
every replica as a healthy host, and a user, a login and an article go through the gateway.
Needs `make image` (localhost/blog-platform:latest and localhost/blog-postgres:15).
"""

from __future__ import annotations

import argparse
import base64
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from deploy import secrets

ROOT = Path(__file__).resolve().parent.parent
CONTAINERS_CONF = ROOT / "docker" / "containers.conf"
POSTGRES_IMAGE = "localhost/blog-postgres:15"  # docker/postgres.Dockerfile, for postgres:15
PREFIX = "k8scheck-"
NETWORK = PREFIX + "net"
GATEWAY_PORT = 18790
SERVICES = {"auth": "auth-grpc", "articles": "articles-grpc", "gateway": "gateway"}
HEALTH = {
    "auth": (50051, "blog.auth.v1.AuthService"),
    "articles": (50052, "blog.articles.v1.ArticleService"),
}

Manifest = dict[str, Any]


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}
    result = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])}... exited {result.returncode}\n{result.stderr}")
    return result


class Dev:
    """The rendered dev overlay and the Secrets its pods read."""

    def __init__(self) -> None:
        rendered = run("kubectl", "kustomize", str(ROOT / "deploy" / "overlays" / "dev")).stdout
        self.objects: list[Manifest] = [doc for doc in yaml.safe_load_all(rendered) if doc]
        self.namespace = self.get("Namespace", "blog-dev")["metadata"]["name"]
        made = secrets.all_secrets(self.namespace, "postgres", dev_postgres=True, cnpg=False)
        self.secrets = {
            (item["metadata"]["name"], key): base64.b64decode(value).decode()
            for item in made
            for key, value in item["data"].items()
        }

    def get(self, kind: str, name: str) -> Manifest:
        return next(o for o in self.objects if (o["kind"], o["metadata"]["name"]) == (kind, name))

    def pod(self, kind: str, name: str) -> dict[str, Any]:
        spec: dict[str, Any] = self.get(kind, name)["spec"]["template"]["spec"]
        return spec

    def secret_dir(self, name: str, folder: Path) -> Path:
        """The Secret as the kubelet mounts it: one file per key, root:fsGroup, 0440."""
        folder.mkdir(exist_ok=True)
        for (secret, key), value in self.secrets.items():
            if secret == name:
                (folder / key).write_text(value)
                os.chown(folder / key, 0, 10001)
                (folder / key).chmod(0o440)
        return folder

    def container_args(
        self, pod: dict[str, Any], container: dict[str, Any], mounts: dict[str, Path]
    ) -> list[str]:
        """podman run options for one container: security, mounts and environment."""
        context, own = pod["securityContext"], container["securityContext"]
        if not own["readOnlyRootFilesystem"] or own["capabilities"]["drop"] != ["ALL"]:
            raise RuntimeError(
                f"{container['name']}: not the hardened container tests/deploy expects"
            )
        args = ["--network", NETWORK, "--read-only", "--cap-drop", "ALL"]
        args += ["--security-opt", "no-new-privileges", "--tmpfs", "/tmp"]  # noqa: S108 - the pod's emptyDir
        args += ["--user", f"{context['runAsUser']}:{context['runAsGroup']}"]
        if "fsGroup" in context:
            args += ["--group-add", str(context["fsGroup"])]
        volumes = {volume["name"]: volume for volume in pod.get("volumes", [])}
        for mount in container.get("volumeMounts", []):
            source = volumes[mount["name"]]
            if "secret" in source:
                args += ["-v", f"{mounts[source['secret']['secretName']]}:{mount['mountPath']}:ro"]
            elif "projected" in source:
                args += ["-v", f"{mounts['gateway-config']}:{mount['mountPath']}:ro"]
        for item in container.get("env", []):
            if "value" in item:
                value = item["value"]
            else:
                ref = item["valueFrom"]["secretKeyRef"]
                value = self.secrets[(ref["name"], ref["key"])]
            args += ["-e", f"{item['name']}={value}"]
        argv = [*container.get("command", []), *container.get("args", [])]
        image = container["image"]
        return [*args, "--entrypoint", argv[0], image, *argv[1:]]


def cleanup() -> None:
    for name in run("podman", "ps", "--all", "--format", "{{.Names}}").stdout.split():
        if name.startswith(PREFIX):
            run("podman", "rm", "--force", name, check=False)
    run("podman", "network", "rm", "--force", NETWORK, check=False)


def wait(
    what: str,
    ready: Callable[[], bool],
    seconds: float = 60,
    seen: Callable[[], object] | None = None,
) -> None:
    """Poll `ready` each second; `seen` tells what there was instead if it never is."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if ready():
            print(f"ok: {what}")
            return
        time.sleep(1)
    instead = f" (seen: {seen()})" if seen else ""
    raise RuntimeError(f"not within {seconds:.0f} s: {what}{instead}")


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise RuntimeError(what)


def call(method: str, path: str, body: str | None = None, **headers: str) -> tuple[int, bytes]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{GATEWAY_PORT}{path}",
        data=None if body is None else body.encode(),
        method=method,
        headers={key.replace("_", "-"): value for key, value in headers.items()},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310 - local
            return reply.status, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def envoy_hosts(cluster: str) -> tuple[int, int]:
    """(hosts, healthy hosts) of a cluster, from Envoy's admin interface (asked inside
    the container: it listens on loopback only)."""
    script = "import urllib.request as u; print(u.urlopen('http://127.0.0.1:9901/clusters').read().decode())"
    found = run("podman", "exec", PREFIX + "gateway-0", "python", "-c", script).stdout
    flags = [
        line
        for line in found.splitlines()
        if line.startswith(f"{cluster}::") and "::health_flags::" in line
    ]
    return len(flags), sum(line.endswith("::healthy") for line in flags)


def wait_hosts(cluster: str, count: int, what: str) -> None:
    """Until Envoy has exactly `count` hosts in `cluster`, all healthy."""
    hosts = functools.partial(envoy_hosts, cluster)
    wait(what, lambda: hosts() == (count, count), seen=hosts)


def start_database(dev: Dev) -> None:
    password = dev.secrets[("blog-db-superuser", "password")]
    options = ["--network", NETWORK, "--network-alias", "postgres"]
    options += ["-e", f"POSTGRES_PASSWORD={password}", POSTGRES_IMAGE]
    run("podman", "run", "-d", "--name", PREFIX + "postgres", *options)
    ready = ["podman", "exec", PREFIX + "postgres", "pg_isready", "-h", "127.0.0.1"]
    wait("postgres accepts connections", lambda: run(*ready, check=False).returncode == 0)


def run_job(dev: Dev, mounts: dict[str, Path]) -> None:
    job = dev.pod("Job", "migrate")
    for container in [*job["initContainers"], *job["containers"]]:
        options = dev.container_args(job, container, mounts)
        run("podman", "run", "--rm", "--name", PREFIX + container["name"], *options)
        print(f"ok: Job migrate, container {container['name']} exited 0")


def start_pod(dev: Dev, name: str, index: str, mounts: dict[str, Path]) -> str:
    """Pod `index` of Deployment `name`, reachable by its Service's names; its container."""
    pod = dev.pod("Deployment", name)
    [container] = pod["containers"]
    options = []
    for alias in (SERVICES[name], f"{SERVICES[name]}.{dev.namespace}.svc.cluster.local"):
        options += ["--network-alias", alias]
    if name == "gateway":
        options += ["-p", f"127.0.0.1:{GATEWAY_PORT}:8080"]
    options += dev.container_args(pod, container, mounts)
    run("podman", "run", "-d", "--name", f"{PREFIX}{name}-{index}", *options)
    return f"{PREFIX}{name}-{index}"


def wait_serving(name: str, container: str) -> None:
    port, health = HEALTH[name]
    probe = ["podman", "exec", container, "python", "docker/healthcheck.py"]
    probe += ["grpc", f"127.0.0.1:{port}", health]
    wait(f"{container} SERVING", lambda: run(*probe, check=False).returncode == 0)


def login() -> str:
    form = "username=ada&password=correct horse"
    status, body = call(
        "POST", "/auth/login", form, content_type="application/x-www-form-urlencoded"
    )
    expect(status == 200, f"login: {status} {body!r}")
    token: str = json.loads(body)["access_token"]
    return token


def kid_of(token: str) -> str:
    header = token.split(".")[0]
    kid: str = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]
    return kid


def create_article(token: str) -> int:
    article = json.dumps({"title": "Hello", "content": "My first article.", "published": True})
    headers = {"content_type": "application/json", "authorization": f"Bearer {token}"}
    return call("POST", "/articles", article, **headers)[0]


def roll_auth(dev: Dev, pods: list[str], mounts: dict[str, Path], generation: int) -> None:
    """`kubectl rollout restart deployment/auth` (maxSurge 1, maxUnavailable 0): a new pod
    with the Secret as it is now, SERVING, then an old one goes. Podman cannot take a name
    out of DNS before the stop, as a terminating pod leaves its Service at once and then
    serves through its preStop pause, so this waits for Envoy to drop the old host instead."""
    for index, old in enumerate(list(pods)):
        new = start_pod(dev, "auth", f"{generation}.{index}", mounts)
        wait_serving("auth", new)
        run("podman", "stop", "--time", "15", old)
        run("podman", "rm", old)
        pods[index] = new
        wait_hosts("auth", len(pods), f"Envoy has dropped {old}")


def rotate(dev: Dev, pods: list[str], mounts: dict[str, Path], old_token: str) -> None:
    """The README's key rotation, step by step, with a token of the old key in use."""
    old_kid = kid_of(old_token)
    kid, pem = secrets.new_key()
    dev.secrets[("auth-signing-keys", f"{kid}.pem")] = pem  # kubectl patch secret ...
    dev.secret_dir("auth-signing-keys", mounts["auth-signing-keys"])
    roll_auth(dev, pods, mounts, 1)
    expect(kid_of(login()) == old_kid, "a published key must not sign before active-kid says so")
    dev.secrets[("auth-signing-keys", "active-kid")] = kid
    roll_auth(dev, pods, mounts, 2)
    new_token = login()
    expect(kid_of(new_token) == kid, "after the second rollout the new key signs")
    for token, which in ((new_token, "new"), (old_token, "old")):
        status = create_article(token)
        expect(status == 201, f"a token of the {which} key, after the rotation: {status}")
    print("ok: key rotated in two rollouts; tokens of the old and the new key both accepted")


def check(replicas: int, scratch: Path) -> None:
    dev = Dev()
    keys = dev.secret_dir("auth-signing-keys", scratch / "keys")
    gateway = ROOT / "deploy" / "overlays" / "dev" / "gateway"
    mounts = {"auth-signing-keys": keys, "gateway-config": gateway}
    run("podman", "network", "create", NETWORK)
    start_database(dev)
    run_job(dev, mounts)
    pods = {
        name: [start_pod(dev, name, str(index), mounts) for index in range(replicas)]
        for name in HEALTH
    }
    start_pod(dev, "gateway", "0", mounts)
    for name, containers in pods.items():
        for container in containers:
            wait_serving(name, container)
    for cluster in HEALTH:
        wait_hosts(cluster, replicas, f"Envoy lists {replicas} healthy {cluster} hosts")
    wait("GET /articles through the gateway", lambda: call("GET", "/articles")[0] == 200)
    user = json.dumps({"email": "ada@example.com", "username": "ada", "password": "correct horse"})
    status, body = call("POST", "/auth/register", user, content_type="application/json")
    expect(status == 201, f"register: {status} {body!r}")
    token = login()
    expect(create_article(token) == 201, "create an article")
    expect(call("GET", "/docs/swagger-ui-bundle.js")[0] == 200, "the Swagger UI bundle")
    print("ok: register, login, create an article, read the docs through the gateway")
    rotate(dev, pods["auth"], mounts, token)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.podman_check", description=__doc__)
    parser.add_argument("--replicas", type=int, default=2, help="pods of each service")
    parser.add_argument("--keep", action="store_true", help="leave the containers running")
    args = parser.parse_args(argv)
    cleanup()
    try:
        with tempfile.TemporaryDirectory() as scratch:
            check(args.replicas, Path(scratch))
    except RuntimeError as error:
        print(f"FAILED: {error}", file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
