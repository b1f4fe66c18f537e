"""The rendered envoy.yaml: valid for Envoy, and built from the settings and the protos."""

from __future__ import annotations

import json
import re
import subprocess

import yaml

from gateway import launch, render, upstreams
from gateway.config import GatewaySettings
from gateway.filters import CORS, LUA_FILTER, TRANSCODER
from gateway.routes import DISABLED, methods
from tests.gateway.conftest import connection_manager


def test_envoy_accepts_the_rendered_config(settings, rendered):
    result = subprocess.run(
        [*launch.command(settings, rendered), "--mode", "validate"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout


def test_every_http_annotation_has_a_route_to_its_service(config, descriptors):
    routes = connection_manager(config)["route_config"]["virtual_hosts"][0]["routes"]
    api = [r for r in routes if "route" in r]
    for binding in descriptors.routes():
        path = re.sub(r"{[^}]+}", "7", binding.template)
        matching = [r for r in api if re.match(r["match"]["safe_regex"]["regex"], path)]
        assert matching, f"no route for {binding.verb} {binding.template}"
        assert {r["route"]["cluster"] for r in matching} == {upstreams.cluster_of(binding.service)}
        assert all(re.match(r["match"]["safe_regex"]["regex"], path + "/") for r in matching)


def test_grpc_only_methods_have_no_route(config):
    routes = connection_manager(config)["route_config"]["virtual_hosts"][0]["routes"]
    for path in ("/blog.auth.v1.AuthService/Login", "/blog.auth.v1.AuthService/BatchGetUsers"):
        assert not [
            r for r in routes if "route" in r and re.match(r["match"]["safe_regex"]["regex"], path)
        ]


def test_writes_are_retried_only_when_they_never_ran_and_every_route_has_a_timeout(
    config, settings
):
    routes = connection_manager(config)["route_config"]["virtual_hosts"][0]["routes"]
    for route in (r for r in routes if "route" in r):
        assert route["route"]["timeout"] == f"{settings.request_timeout_seconds:g}s"
        retry_on = set(route["route"]["retry_policy"]["retry_on"].split(","))
        if route["match"].get("headers", []) == [methods("GET")]:
            assert {"reset", "unavailable"} <= retry_on
        else:
            assert route["match"].get("headers", []) == []
            assert retry_on == {"cancelled", "connect-failure", "refused-stream"}
        assert "max_stream_duration" not in route["route"]  # it would disable the timeout


def test_the_docs_routes_bypass_the_transcoder(config, rendered):
    routes = connection_manager(config)["route_config"]["virtual_hosts"][0]["routes"]
    served = {r["match"]["path"]: r for r in routes if "direct_response" in r}
    assert {"/openapi.json", "/docs", "/docs/"} <= served.keys()
    for route in served.values():
        assert route["typed_per_filter_config"] == DISABLED
    assert served["/openapi.json"]["direct_response"]["body"]["filename"] == str(
        rendered.parent.resolve() / "openapi.json"
    )


def test_filters_run_cors_then_limits_then_lua_before_the_transcoder(config):
    names = [f["name"] for f in connection_manager(config)["http_filters"]]
    assert names == [
        "envoy.filters.http.cors",
        "envoy.filters.http.local_ratelimit",
        "envoy.filters.http.buffer",
        "envoy.filters.http.lua",
        "envoy.filters.http.grpc_json_transcoder",
        "envoy.filters.http.router",
    ]


def test_the_transcoder_prints_snake_case_defaults_and_rejects_unknown_input(config, descriptors):
    filters = {f["name"]: f["typed_config"] for f in connection_manager(config)["http_filters"]}
    transcoder = filters[TRANSCODER]
    assert transcoder["print_options"] == {
        "always_print_primitive_fields": True,
        "preserve_proto_field_names": True,
    }
    assert all(transcoder["request_validation_options"].values())
    assert transcoder["services"] == descriptors.services()
    assert transcoder["convert_grpc_status"] is True


def test_cors_allows_exactly_the_configured_origins_without_credentials(config, settings):
    vhost = connection_manager(config)["route_config"]["virtual_hosts"][0]
    policy = vhost["typed_per_filter_config"][CORS]
    assert [o["exact"] for o in policy["allow_origin_string_match"]] == settings.cors_origins
    assert policy["allow_credentials"] is False
    assert "authorization" in policy["allow_headers"]
    assert "content-type" in policy["allow_headers"]


def test_clusters_health_check_each_worker_over_grpc(config, settings):
    clusters = {c["name"]: c for c in config["static_resources"]["clusters"]}
    assert set(clusters) == {"auth", "articles"}
    expected = {"auth": settings.auth_endpoints, "articles": settings.articles_endpoints}
    services = {"auth": "blog.auth.v1.AuthService", "articles": "blog.articles.v1.ArticleService"}
    for name, cluster in clusters.items():
        endpoints = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]
        addresses = [
            f"{e['endpoint']['address']['socket_address']['address']}:"
            f"{e['endpoint']['address']['socket_address']['port_value']}"
            for e in endpoints
        ]
        assert addresses == expected[name]
        [check] = cluster["health_checks"]
        assert check["grpc_health_check"]["service_name"] == services[name]
        assert cluster["type"] == "STATIC"


def test_hostnames_make_a_dns_cluster(descriptors, tmp_path):
    settings = GatewaySettings(auth_endpoints=["auth:50061"], articles_endpoints=["articles:50071"])
    config = render.build(settings, descriptors, tmp_path)
    clusters = [c for c in config["static_resources"]["clusters"] if c["name"] != "envoy_admin"]
    assert {c["cluster_type"]["name"] for c in clusters} == {"envoy.cluster.dns"}
    assert {c["cluster_type"]["typed_config"]["dns_refresh_rate"] for c in clusters} == {"2s"}


def test_an_endpoints_dir_makes_eds_clusters_fed_by_watched_files(descriptors, tmp_path):
    settings = GatewaySettings(
        auth_endpoints=["127.0.0.1:50061"],
        articles_endpoints=["127.0.0.2:50071", "127.0.0.3:50071"],
        endpoints_dir=tmp_path / "endpoints",
    )
    config = yaml.safe_load(render.write(settings, tmp_path / "out").read_text())
    for cluster in config["static_resources"]["clusters"]:
        if cluster["name"] == "envoy_admin":
            continue  # Envoy's stats, from its own admin interface
        assert cluster["type"] == "EDS"
        assert cluster["ignore_health_on_host_removal"] is True  # a drained host goes at once
        source = cluster["eds_cluster_config"]["eds_config"]
        assert source["path_config_source"]["path"].endswith(f"endpoints/{cluster['name']}.json")
    published = json.loads((tmp_path / "endpoints" / "articles.json").read_text())
    [resource] = published["resources"]
    addresses = [
        e["endpoint"]["address"]["socket_address"]["address"]
        for e in resource["endpoints"][0]["lb_endpoints"]
    ]
    assert addresses == ["127.0.0.2", "127.0.0.3"]


def test_the_access_log_shows_the_rest_path(config):
    [log] = connection_manager(config)["access_log"]
    text = log["typed_config"]["log_format"]["text_format_source"]["inline_string"]
    assert "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%" in text


def test_envoy_local_replies_become_json(config):
    mappers = connection_manager(config)["local_reply_config"]["mappers"]
    for mapper in mappers:
        override = mapper["body_format_override"]
        assert override["content_type"] == "application/json"
        assert override["json_format"]["message"] == "%LOCAL_REPLY_BODY%"


def test_endpoints_default_to_the_services_worker_ports(monkeypatch):
    monkeypatch.setenv("AUTH_WORKER_BASE_PORT", "41000")
    monkeypatch.setenv("AUTH_WORKERS", "3")
    monkeypatch.setenv("ARTICLES_HOST", "0.0.0.0")  # noqa: S104 - a bind-all service
    monkeypatch.setenv("ARTICLES_WORKER_BASE_PORT", "0")
    monkeypatch.setenv("ARTICLES_PORT", "42000")
    settings = GatewaySettings()
    assert settings.auth_endpoints == ["127.0.0.1:41000", "127.0.0.1:41001", "127.0.0.1:41002"]
    assert settings.articles_endpoints == ["127.0.0.1:42000"]


def test_lists_come_from_comma_separated_variables(monkeypatch):
    monkeypatch.setenv("GATEWAY_CORS_ORIGINS", "http://a.example, http://b.example")
    monkeypatch.setenv("GATEWAY_AUTH_ENDPOINTS", "auth:1,auth:2")
    settings = GatewaySettings()
    assert settings.cors_origins == ["http://a.example", "http://b.example"]
    assert settings.auth_endpoints == ["auth:1", "auth:2"]


def test_writes_that_create_or_delete_carry_their_rest_code_for_the_lua_filter(config):
    routes = connection_manager(config)["route_config"]["virtual_hosts"][0]["routes"]
    success = {
        route["match"]["safe_regex"]["regex"]: route["metadata"]["filter_metadata"][LUA_FILTER].get(
            "success"
        )
        for route in routes
        if "route" in route and "headers" not in route["match"]  # the non-GET routes
    }
    assert success == {
        "^/articles/?$": {"POST": "201"},
        "^/articles/[^/]+/?$": {"DELETE": "204"},  # PATCH keeps its 200
        "^/auth/register/?$": {"POST": "201"},
        "^/auth/login/?$": None,
        "^/auth/me/?$": {"DELETE": "204"},  # PATCH keeps its 200
        "^/auth/me/password/?$": None,
        "^/auth/refresh/?$": None,
        "^/auth/logout/?$": {"POST": "204"},
    }


def test_the_stats_listener_reaches_only_the_admins_prometheus_stats(descriptors, tmp_path):
    settings = GatewaySettings(stats_port=9902, admin_port=9901)
    config = render.build(settings, descriptors, tmp_path)
    listeners = {item["name"]: item for item in config["static_resources"]["listeners"]}
    assert set(listeners) == {"gateway", "stats"}
    assert listeners["stats"]["address"]["socket_address"] == {
        "address": "127.0.0.1",
        "port_value": 9902,
    }
    [chain] = listeners["stats"]["filter_chains"]
    [manager] = chain["filters"]
    [host] = manager["typed_config"]["route_config"]["virtual_hosts"]
    forwarded = [route for route in host["routes"] if "route" in route]
    assert {route["route"]["prefix_rewrite"] for route in forwarded} == {"/stats/prometheus"}
    assert {route["match"]["path"] for route in forwarded} == {"/metrics", "/stats/prometheus"}
    assert host["routes"][-1]["direct_response"]["status"] == 404  # everything else
    [admin] = [c for c in config["static_resources"]["clusters"] if c["name"] == "envoy_admin"]
    [endpoint] = admin["load_assignment"]["endpoints"][0]["lb_endpoints"]
    assert endpoint["endpoint"]["address"]["socket_address"]["port_value"] == 9901
    assert GatewaySettings().stats_port == 0  # off unless asked (make run asks)


def test_each_rest_route_is_a_virtual_cluster_for_per_route_stats(config, descriptors):
    [host] = connection_manager(config)["route_config"]["virtual_hosts"]
    names = {cluster["name"] for cluster in host["virtual_clusters"]}
    assert {"get_articles", "get_articles_id", "post_auth_login", "delete_auth_me"} <= names
    assert len(names) == len(descriptors.routes())
