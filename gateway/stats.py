"""Envoy's own stats in Prometheus format, scrapeable without exposing the admin interface.

A small listener of its own (GATEWAY_STATS_HOST:GATEWAY_STATS_PORT) answers GET /metrics
(and /stats/prometheus) by forwarding it to the admin interface's /stats/prometheus over an
internal cluster pointing at the admin address; every other path or method is a 404 there,
so nothing else of the admin (config dumps, /quitquitquit) is reachable through it.
"""

from __future__ import annotations

import re
from typing import Any

from gateway.config import GatewaySettings
from gateway.descriptors import HttpRoute
from gateway.upstreams import address, load_assignment, typed

ADMIN_CLUSTER = "envoy_admin"
PATHS = ("/metrics", "/stats/prometheus")


def _get(path: str) -> dict[str, Any]:
    return {
        "match": {
            "path": path,
            "headers": [{"name": ":method", "string_match": {"exact": "GET"}}],
        },
        "route": {"cluster": ADMIN_CLUSTER, "prefix_rewrite": "/stats/prometheus", "timeout": "5s"},
    }


def listener(settings: GatewaySettings) -> dict[str, Any]:
    manager = typed(
        "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        stat_prefix="stats",
        codec_type="AUTO",
        route_config={
            "name": "stats",
            "virtual_hosts": [
                {
                    "name": "stats",
                    "domains": ["*"],
                    "routes": [
                        *(_get(path) for path in PATHS),
                        {"match": {"prefix": "/"}, "direct_response": {"status": 404}},
                    ],
                }
            ],
        },
        http_filters=[
            {
                "name": "envoy.filters.http.router",
                "typed_config": typed("envoy.extensions.filters.http.router.v3.Router"),
            }
        ],
    )
    http = {"name": "envoy.filters.network.http_connection_manager", "typed_config": manager}
    return {
        "name": "stats",
        "address": address(settings.stats_host, settings.stats_port),
        "filter_chains": [{"filters": [http]}],
    }


def admin_cluster(settings: GatewaySettings) -> dict[str, Any]:
    """The admin interface as an upstream (plain HTTP/1.1 on loopback)."""
    host = "127.0.0.1" if settings.admin_host == "localhost" else settings.admin_host
    return {
        "name": ADMIN_CLUSTER,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": load_assignment(ADMIN_CLUSTER, [f"{host}:{settings.admin_port}"]),
    }


def route_name(route: HttpRoute) -> str:
    """GET /articles/{id} -> get_articles_id: a stat-safe name for one REST route."""
    words = re.sub(r"[^a-z0-9]+", "_", route.template.lower()).strip("_")
    return f"{route.verb.lower()}_{words}"


def virtual_clusters(routes: list[HttpRoute]) -> list[dict[str, Any]]:
    """One virtual cluster per REST route, so Envoy's stats (vhost.api.vcluster.<route>.*:
    requests by status class and their latency) are per route. The router matches them
    after the transcoder, on the gRPC path each route's RPC is sent to."""
    clusters = []
    for route in routes:
        service, _, method = route.rpc.rpartition(".")
        grpc_path = f"/{service}/{method}"
        clusters.append(
            {
                "name": route_name(route),
                "headers": [{"name": ":path", "string_match": {"exact": grpc_path}}],
            }
        )
    return clusters
