"""Envoy's tracer in the rendered config: absent unless a collector is set, valid when set."""

from __future__ import annotations

import subprocess

import pytest
import yaml
from pydantic import ValidationError

from gateway import launch, render, tracing
from gateway.config import GatewaySettings
from tests.gateway.conftest import connection_manager


def test_tracing_is_off_by_default(config):
    assert "tracing" not in connection_manager(config)
    names = {cluster["name"] for cluster in config["static_resources"]["clusters"]}
    assert tracing.COLLECTOR_CLUSTER not in names
    assert GatewaySettings().tracing_endpoint == ""


def test_a_collector_turns_on_envoys_opentelemetry_tracer(descriptors, tmp_path):
    settings = GatewaySettings(
        tracing_endpoint="http://collector.observability:4317", tracing_sampling_percent=1
    )
    rendered = render.write(settings, tmp_path)
    result = subprocess.run(
        [*launch.command(settings, rendered), "--mode", "validate"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load(rendered.read_text())
    traced = connection_manager(config)["tracing"]
    assert traced["random_sampling"] == {"value": 1.0}
    assert traced["client_sampling"] == {"value": 0}
    provider = traced["provider"]["typed_config"]
    assert provider["grpc_service"]["envoy_grpc"]["cluster_name"] == tracing.COLLECTOR_CLUSTER
    [cluster] = [
        c for c in config["static_resources"]["clusters"] if c["name"] == tracing.COLLECTOR_CLUSTER
    ]
    assert cluster["type"] == "STRICT_DNS"  # a name: resolved again, as Services move
    [host] = connection_manager(config)["route_config"]["virtual_hosts"]
    operations = {r["decorator"]["operation"] for r in host["routes"] if "decorator" in r}
    # Span names are route templates, never a request's own path (which holds ids).
    assert {"GET /articles/{id}", "POST /articles", "POST /auth/login"} <= operations
    assert not any(char.isdigit() for op in operations for char in op)  # ids are numbers


@pytest.mark.parametrize("endpoint", ["collector", "https://c:4317", "c:0", "c:99999", "a/b:1"])
def test_a_collector_must_be_a_plaintext_host_and_port(endpoint):
    with pytest.raises(ValidationError):
        GatewaySettings(tracing_endpoint=endpoint)
