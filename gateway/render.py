"""Render envoy.yaml from the gateway settings and the descriptor set (never hand-edited):
the listener and its connection manager, the clusters, and the files Envoy serves.

The route table is gateway.routes', the HTTP filter chain gateway.filters'.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from gateway import docs, openapi, stats, tracing
from gateway.config import GatewaySettings
from gateway.descriptors import Descriptors, HttpRoute, for_envoy, load
from gateway.filters import CORS, NOSNIFF, access_log, cors_policy, http_filters, local_replies
from gateway.routes import api_routes, check_response_bodies, docs_routes
from gateway.upstreams import address, cluster, cluster_of, seconds, typed, write_endpoints

# Client-sent address headers are removed before Envoy adds its own (use_remote_address),
# so x-forwarded-for and x-envoy-external-address only ever hold the peer Envoy saw.
CLIENT_ADDRESS_HEADERS = ("x-forwarded-for", "x-envoy-external-address", "x-real-ip", "forwarded")
# Envoy's edge recommendations for HTTP/2 clients (docs: "Configuring Envoy as an edge proxy").
HTTP2_LIMITS = {
    "max_concurrent_streams": 100,
    "initial_stream_window_size": 65536,
    "initial_connection_window_size": 1048576,
}


def upstream_endpoints(settings: GatewaySettings) -> dict[str, list[str]]:
    """Each cluster (named by its proto package) and the endpoints configured for it."""
    return {"auth": settings.auth_endpoints, "articles": settings.articles_endpoints}


def _clusters(settings: GatewaySettings, descriptors: Descriptors) -> list[dict[str, Any]]:
    """One cluster per service, health-checked through that service's gRPC health."""
    endpoints = upstream_endpoints(settings)
    services = descriptors.services()
    clusters = []
    for name, listed in endpoints.items():
        health = next((s for s in services if cluster_of(s) == name), "")
        clusters.append(cluster(settings, name, listed, health))
    unknown = {cluster_of(s) for s in services} - endpoints.keys()
    if unknown:
        raise ValueError(f"no endpoints configured for {sorted(unknown)}")
    return clusters


def _connection_manager(
    settings: GatewaySettings, descriptors: Descriptors, served: Path, routes: list[HttpRoute]
) -> dict[str, Any]:
    """The listener's HTTP connection manager: limits, timeouts, routes and filters."""
    return typed(
        "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        stat_prefix="gateway",
        codec_type="AUTO",
        # No `server: envoy` banner: nothing tells a client what runs the edge.
        server_header_transformation="PASS_THROUGH",
        # The client address is the TCP peer; no proxy in front is trusted.
        use_remote_address=True,
        xff_num_trusted_hops=0,
        early_header_mutation_extensions=[
            {
                "name": "envoy.http.early_header_mutation.header_mutation",
                "typed_config": typed(
                    "envoy.extensions.http.early_header_mutation.header_mutation.v3.HeaderMutation",
                    mutations=[{"remove": name} for name in CLIENT_ADDRESS_HEADERS],
                ),
            }
        ],
        max_request_headers_kb=settings.max_request_headers_kb,
        common_http_protocol_options={
            "idle_timeout": seconds(settings.connection_idle_timeout_seconds),
            "max_headers_count": settings.max_headers_count,
            "headers_with_underscores_action": "REJECT_REQUEST",
        },
        # A method the HTTP/1 parser does not know (QUERY) reaches status.lua, which answers
        # 405 with Allow, as for any other method a path does not offer.
        http_protocol_options={"allow_custom_methods": True},
        http2_protocol_options=HTTP2_LIMITS,
        request_headers_timeout=seconds(settings.request_headers_timeout_seconds),
        request_timeout=seconds(settings.request_receive_timeout_seconds),
        stream_idle_timeout=seconds(settings.stream_idle_timeout_seconds),
        access_log=access_log(settings),
        local_reply_config=local_replies(),
        route_config={
            "name": "api",
            # Large enough for the Swagger UI bundle served by direct_response.
            "max_direct_response_body_size_bytes": 8 * 1024 * 1024,
            "virtual_hosts": [
                {
                    "name": "api",
                    "domains": ["*"],
                    "routes": docs_routes(served / "openapi.json", served / "docs.html")
                    + api_routes(settings, routes),
                    "typed_per_filter_config": {CORS: cors_policy(settings)},
                    "virtual_clusters": stats.virtual_clusters(routes),
                    # Browsers must not guess a content type (ASVS 14.4.4).
                    "response_headers_to_add": [NOSNIFF],
                }
            ],
        },
        http_filters=http_filters(settings, descriptors, served / "descriptors.binpb"),
    )


def build(settings: GatewaySettings, descriptors: Descriptors, served: Path) -> dict[str, Any]:
    """The whole Envoy bootstrap as a dict.

    `served` holds what render() writes beside envoy.yaml: openapi.json, docs.html and
    descriptors.binpb (the set Envoy loads).
    """
    routes = descriptors.routes()
    check_response_bodies(descriptors, routes)
    manager = _connection_manager(settings, descriptors, served, routes)
    config: dict[str, Any] = {
        # File-based EDS (GATEWAY_ENDPOINTS_DIR) needs the node to name itself.
        "node": {"id": "gateway", "cluster": "blog-gateway"},
        "admin": {"address": address(settings.admin_host, settings.admin_port)},
        # A cap on open client connections, so a connection flood cannot exhaust the process.
        "overload_manager": {
            "resource_monitors": [
                {
                    "name": "envoy.resource_monitors.global_downstream_max_connections",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.resource_monitors."
                        "downstream_connections.v3.DownstreamConnectionsConfig",
                        "max_active_downstream_connections": 10000,
                    },
                }
            ]
        },
        "static_resources": {
            "listeners": [
                {
                    "name": "gateway",
                    "address": address(settings.host, settings.port),
                    # Filters that buffer a response (transcoder, Lua) may hold this much.
                    "per_connection_buffer_limit_bytes": settings.max_response_body_bytes,
                    "filter_chains": [
                        {
                            "filters": [
                                {
                                    "name": "envoy.filters.network.http_connection_manager",
                                    "typed_config": manager,
                                }
                            ]
                        }
                    ],
                }
            ],
            "clusters": _clusters(settings, descriptors),
        },
    }
    if settings.stats_port:
        config["static_resources"]["listeners"].append(stats.listener(settings))
        config["static_resources"]["clusters"].append(stats.admin_cluster(settings))
    if settings.tracing_endpoint:
        tracing.enable(config, manager, settings, routes)
    return config


def write(settings: GatewaySettings, workdir: Path) -> Path:
    """Write openapi.json, docs.html and envoy.yaml into workdir; return envoy.yaml's path."""
    descriptors = load(settings.descriptors)
    workdir.mkdir(parents=True, exist_ok=True)
    served = workdir.resolve()
    document = openapi.build(descriptors, settings)
    (served / "openapi.json").write_text(json.dumps(document, indent=2) + "\n")
    (served / "docs.html").write_text(docs.PAGE)
    (served / "descriptors.binpb").write_bytes(for_envoy(settings.descriptors))
    if settings.endpoints_dir is not None:  # what Envoy reads first; replaced as replicas change
        for name, listed in upstream_endpoints(settings).items():
            write_endpoints(settings.endpoints_dir, name, listed)
    config = served / "envoy.yaml"
    config.write_text(yaml.safe_dump(build(settings, descriptors, served), sort_keys=False))
    return config
