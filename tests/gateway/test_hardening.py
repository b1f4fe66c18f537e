"""Edge hardening in the rendered envoy.yaml: limits, timeouts, client address, login rate."""

from __future__ import annotations

import re
import subprocess
from typing import Any

import pytest
from pydantic import ValidationError

from gateway import launch, render
from gateway.config import GatewaySettings
from gateway.filters import RATE_LIMIT, RATE_LIMITED_MESSAGE
from gateway.routes import login_rate_limit
from tests.gateway.conftest import connection_manager


def api_routes(config: dict[str, Any]) -> list[dict[str, Any]]:
    routes = connection_manager(config)["route_config"]["virtual_hosts"][0]["routes"]
    return [r for r in routes if "route" in r]


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "10.0.0.1", "example.com", ""])  # noqa: S104
def test_a_non_loopback_admin_host_is_refused(host, monkeypatch):
    with pytest.raises(ValidationError, match="loopback"):
        GatewaySettings(admin_host=host)
    monkeypatch.setenv("GATEWAY_ADMIN_HOST", host)
    with pytest.raises(ValidationError, match="loopback"):
        GatewaySettings()


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_a_loopback_admin_host_is_accepted(host):
    assert GatewaySettings(admin_host=host).admin_host == host


def test_the_rendered_admin_listens_on_loopback(config, settings):
    assert (
        config["admin"]["address"]["socket_address"]["address"]
        == settings.admin_host
        == ("127.0.0.1")
    )


def test_the_client_address_is_only_what_envoy_saw(config):
    manager = connection_manager(config)
    assert manager["use_remote_address"] is True
    assert manager["xff_num_trusted_hops"] == 0
    assert "skip_xff_append" not in manager
    [early] = manager["early_header_mutation_extensions"]
    removed = {m["remove"] for m in early["typed_config"]["mutations"]}
    assert {"x-forwarded-for", "x-envoy-external-address", "x-real-ip", "forwarded"} <= removed


def test_header_limits_and_underscores(config, settings):
    manager = connection_manager(config)
    assert manager["max_request_headers_kb"] == settings.max_request_headers_kb
    common = manager["common_http_protocol_options"]
    assert common["max_headers_count"] == settings.max_headers_count
    assert common["headers_with_underscores_action"] == "REJECT_REQUEST"
    assert common["idle_timeout"] == f"{settings.connection_idle_timeout_seconds:g}s"
    assert manager["http2_protocol_options"]["max_concurrent_streams"] == 100


def test_default_header_limits_fit_the_services_grpc_metadata_limit():
    """grpc's soft limit is 8 KiB, each header costing 32 bytes more than its text."""
    settings = GatewaySettings()
    worst = settings.max_request_headers_kb * 1024 + 32 * settings.max_headers_count
    envoy_adds = 20 * (32 + 64)  # x-envoy-*, x-forwarded-*, x-request-id, te, grpc-*
    assert worst + envoy_adds < 8 * 1024


def test_connection_manager_timeouts_come_from_the_settings(descriptors, tmp_path):
    settings = GatewaySettings(
        auth_endpoints=["127.0.0.1:1"],
        articles_endpoints=["127.0.0.1:2"],
        request_headers_timeout_seconds=3,
        request_receive_timeout_seconds=7.5,
        stream_idle_timeout_seconds=11,
    )
    manager = connection_manager(render.build(settings, descriptors, tmp_path))
    assert manager["request_headers_timeout"] == "3s"
    assert manager["request_timeout"] == "7.5s"
    assert manager["stream_idle_timeout"] == "11s"


def test_only_the_login_route_carries_the_rate_limit(config, settings):
    limited = [r for r in api_routes(config) if RATE_LIMIT in r.get("typed_per_filter_config", {})]
    [login] = limited
    assert re.match(login["match"]["safe_regex"]["regex"], "/auth/login")
    assert re.match(login["match"]["safe_regex"]["regex"], "/auth/login/")
    assert "headers" not in login["match"]  # the POST route (the path has no GET)
    bucket = login["typed_per_filter_config"][RATE_LIMIT]
    assert bucket == login_rate_limit(settings)
    assert bucket["filter_enforced"]["default_value"]["numerator"] == 100
    assert bucket["filter_enabled"]["default_value"]["numerator"] == 100
    # The filter in the chain has no bucket of its own, so no other route is limited.
    filters = {f["name"]: f["typed_config"] for f in connection_manager(config)["http_filters"]}
    assert "token_bucket" not in filters[RATE_LIMIT]


@pytest.mark.parametrize("per_minute", [1, 7, 30, 45, 60, 61, 1000, 60_000])
def test_the_token_bucket_allows_exactly_the_configured_rate(per_minute):
    bucket = login_rate_limit(
        GatewaySettings(
            auth_endpoints=["127.0.0.1:1"],
            articles_endpoints=["127.0.0.1:2"],
            login_rate_per_minute=per_minute,
        )
    )["token_bucket"]
    interval = int(bucket["fill_interval"].removesuffix("s"))
    assert interval >= 1
    assert bucket["tokens_per_fill"] * 60 == per_minute * interval
    assert bucket["max_tokens"] == per_minute


def test_the_login_rate_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("GATEWAY_LOGIN_RATE_PER_MINUTE", "12")
    assert GatewaySettings().login_rate_per_minute == 12
    monkeypatch.setenv("GATEWAY_LOGIN_RATE_PER_MINUTE", "0")
    with pytest.raises(ValidationError):
        GatewaySettings()


def test_a_rate_limited_login_is_a_json_429_with_its_own_message(config):
    [first, *_] = connection_manager(config)["local_reply_config"]["mappers"]
    comparison = first["filter"]["status_code_filter"]["comparison"]
    assert comparison["op"] == "EQ"
    assert comparison["value"]["default_value"] == 429
    assert first["body"]["inline_string"] == RATE_LIMITED_MESSAGE
    assert first["body_format_override"]["content_type"] == "application/json"


def test_envoy_accepts_non_default_hardening_settings(descriptors, tmp_path):
    settings = GatewaySettings(
        auth_endpoints=["127.0.0.1:1"],
        articles_endpoints=["127.0.0.1:2"],
        login_rate_per_minute=7,
        max_request_headers_kb=2,
        max_headers_count=20,
        admin_host="::1",
    )
    config = render.write(settings, tmp_path)
    result = subprocess.run(
        [*launch.command(settings, config), "--mode", "validate"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
