"""The upstream clusters: one endpoint per service worker, HTTP/2, gRPC health checks.

Endpoints come from one of three sources: a fixed list of IP addresses (STATIC), host
names resolved again every few seconds (STRICT_DNS: a Kubernetes headless Service lists
every pod), or a file per cluster that Envoy watches (file-based EDS), which `make run`
rewrites as replicas come and go, without restarting Envoy.
"""

from __future__ import annotations

import ipaddress
import json
import os
import tempfile
from pathlib import Path
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


def load_assignment(name: str, endpoints: list[str]) -> dict[str, Any]:
    """A ClusterLoadAssignment: every host:port of `endpoints` in one locality."""
    pairs = [endpoint.rpartition(":") for endpoint in endpoints]
    hosts = [(host.strip("[]"), int(port)) for host, _, port in pairs]
    return {
        "cluster_name": name,
        "endpoints": [
            {"lb_endpoints": [{"endpoint": {"address": address(h, p)}} for h, p in hosts]}
        ],
    }


def endpoints_file(directory: Path, name: str) -> Path:
    return directory / f"{name}.json"


def write_endpoints(directory: Path, name: str, endpoints: list[str]) -> None:
    """Publish cluster `name`'s endpoints to the Envoy that watches `directory`.

    Envoy reloads a watched file when one is moved into place, so the new content is
    written beside it and renamed over it: Envoy never reads half a file.
    """
    resource = typed(
        "envoy.config.endpoint.v3.ClusterLoadAssignment", **load_assignment(name, endpoints)
    )
    response = {"version_info": os.urandom(4).hex(), "resources": [resource]}
    directory.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
    with os.fdopen(handle, "w") as file:
        json.dump(response, file)
    os.replace(temporary, endpoints_file(directory, name))


def _discovery(settings: GatewaySettings, name: str, endpoints: list[str]) -> dict[str, Any]:
    """How the cluster finds its hosts: EDS from a watched file, DNS, or a fixed list."""
    if settings.endpoints_dir is not None:
        directory = settings.endpoints_dir.resolve()
        source = {
            "path_config_source": {
                "path": str(endpoints_file(directory, name)),
                "watched_directory": {"path": str(directory)},
            },
            "resource_api_version": "V3",
        }
        # A host taken out of the file is dropped at once, even while its health checks
        # still pass: it is being drained, so no new request may be sent to it.
        return {
            "type": "EDS",
            "eds_cluster_config": {"eds_config": source},
            "ignore_health_on_host_removal": True,
        }
    hosts = [endpoint.rpartition(":")[0].strip("[]") for endpoint in endpoints]
    if all(_is_ip(host) for host in hosts):
        return {"type": "STATIC", "load_assignment": load_assignment(name, endpoints)}
    # Every address a name resolves to is a host of its own (STRICT_DNS behaviour).
    dns = typed(
        "envoy.extensions.clusters.dns.v3.DnsCluster",
        dns_refresh_rate=seconds(settings.dns_refresh_seconds),
        respect_dns_ttl=False,
    )
    return {
        "cluster_type": {"name": "envoy.cluster.dns", "typed_config": dns},
        "load_assignment": load_assignment(name, endpoints),
    }


def cluster(
    settings: GatewaySettings, name: str, endpoints: list[str], health_service: str
) -> dict[str, Any]:
    interval = seconds(settings.health_check_interval_seconds)
    return {
        "name": name,
        **_discovery(settings, name, endpoints),
        "connect_timeout": seconds(settings.connect_timeout_seconds),
        "lb_policy": "ROUND_ROBIN",
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": typed(
                "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                explicit_http_config={"http2_protocol_options": {}},
            )
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
