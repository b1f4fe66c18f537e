"""The upstream clusters: one endpoint per service worker, HTTP/2, gRPC health checks."""

from __future__ import annotations

import ipaddress
from typing import Any

from gateway.config import GatewaySettings


def typed(type_name: str, **fields: Any) -> dict[str, Any]:
    return {"@type": f"type.googleapis.com/{type_name}", **fields}


def seconds(value: float) -> str:
    return f"{value:g}s"


def cluster_of(service: str) -> str:
    """blog.articles.v1.ArticleService -> "articles": the package names the cluster."""
    return service.split(".")[1]


def address(host: str, port: int) -> dict[str, Any]:
    return {"socket_address": {"address": host, "port_value": port}}


def cluster(
    settings: GatewaySettings, name: str, endpoints: list[str], health_service: str
) -> dict[str, Any]:
    pairs = [endpoint.rpartition(":") for endpoint in endpoints]
    hosts = [(host.strip("[]"), int(port)) for host, _, port in pairs]
    static = all(_is_ip(host) for host, _ in hosts)
    interval = seconds(settings.health_check_interval_seconds)
    return {
        "name": name,
        "type": "STATIC" if static else "STRICT_DNS",
        "connect_timeout": seconds(settings.connect_timeout_seconds),
        "lb_policy": "ROUND_ROBIN",
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": typed(
                "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                explicit_http_config={"http2_protocol_options": {}},
            )
        },
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [
                {
                    "lb_endpoints": [
                        {"endpoint": {"address": address(host, port)}} for host, port in hosts
                    ]
                }
            ],
        },
        "health_checks": [
            {
                "timeout": "1s",
                "interval": interval,
                "no_traffic_interval": interval,
                "unhealthy_threshold": 2,
                "healthy_threshold": 1,
                "grpc_health_check": {"service_name": health_service},
            }
        ],
        "outlier_detection": {
            "consecutive_gateway_failure": 3,
            "interval": "5s",
            "base_ejection_time": "15s",
            "max_ejection_percent": 50,
        },
    }


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
