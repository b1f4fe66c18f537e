"""Envoy's OpenTelemetry tracer: a span per request, exported over OTLP/gRPC.

Off unless GATEWAY_TRACING_ENDPOINT names a collector (host:port). When on, the HTTP
connection manager starts a trace, or continues the one a client's W3C `traceparent`
names (Envoy ignores a malformed one and starts a new trace), samples new traces at
GATEWAY_TRACING_SAMPLING_PERCENT, and sends `traceparent` on to the services, whose
spans become children of its own. Spans go to the collector through a cluster of their
own, asynchronously: a collector that is down or slow never holds a request.
"""

from __future__ import annotations

from typing import Any

from gateway.config import GatewaySettings
from gateway.descriptors import HttpRoute
from gateway.upstreams import load_assignment, seconds, typed

COLLECTOR_CLUSTER = "opentelemetry_collector"
EXPORT_TIMEOUT_SECONDS = 2.0


def collector_endpoint(settings: GatewaySettings) -> str:
    """host:port of the collector (an http:// prefix, as OTEL_* endpoints have, is dropped)."""
    endpoint = settings.tracing_endpoint.strip()
    return endpoint.removeprefix("http://").rstrip("/")


def http_tracing(settings: GatewaySettings) -> dict[str, Any]:
    """The connection manager's `tracing`: the provider and its sampling."""
    provider = typed(
        "envoy.config.trace.v3.OpenTelemetryConfig",
        grpc_service={
            "envoy_grpc": {"cluster_name": COLLECTOR_CLUSTER},
            "timeout": seconds(EXPORT_TIMEOUT_SECONDS),
        },
        service_name=settings.tracing_service_name,
    )
    return {
        "provider": {"name": "envoy.tracers.opentelemetry", "typed_config": provider},
        "random_sampling": {"value": settings.tracing_sampling_percent},
        # x-client-trace-id does not force a trace: only sampling (or a sampled parent) does.
        "client_sampling": {"value": 0},
        # One span per request (SERVER); the services' spans are its children.
        "spawn_upstream_span": False,
    }


def collector_cluster(settings: GatewaySettings) -> dict[str, Any]:
    endpoint = collector_endpoint(settings)
    host = endpoint.rpartition(":")[0].strip("[]")
    cluster: dict[str, Any] = {
        "name": COLLECTOR_CLUSTER,
        "connect_timeout": seconds(settings.connect_timeout_seconds),
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": typed(
                "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                explicit_http_config={"http2_protocol_options": {}},
            )
        },
        "load_assignment": load_assignment(COLLECTOR_CLUSTER, [endpoint]),
    }
    if host.replace(".", "").isdigit() or ":" in host:
        cluster["type"] = "STATIC"
    else:  # a name (a Service in Kubernetes), resolved again now and then
        cluster["type"] = "STRICT_DNS"
        cluster["dns_refresh_rate"] = seconds(settings.dns_refresh_seconds)
    return cluster


def operation(route: dict[str, Any], templates: dict[str, list[HttpRoute]]) -> str | None:
    """The span name of an API route entry: its methods and path template, e.g.
    "GET /articles/{id}" (never the request's own path, which holds ids)."""
    regex = route.get("match", {}).get("safe_regex", {}).get("regex")
    bound = templates.get(regex or "")
    if not bound:
        return None
    methods = [h for h in route["match"].get("headers", []) if h.get("name") == ":method"]
    if methods:
        verbs = ["GET"]
    else:
        verbs = sorted({r.verb for r in bound} - {"GET"}) or sorted({r.verb for r in bound})
    return f"{'|'.join(verbs)} {bound[0].template}"


def enable(
    config: dict[str, Any],
    manager: dict[str, Any],
    settings: GatewaySettings,
    routes: list[HttpRoute],
) -> None:
    """Turn tracing on in a built bootstrap (`manager` is its HTTP connection manager)."""
    manager["tracing"] = http_tracing(settings)
    templates: dict[str, list[HttpRoute]] = {}
    for route in routes:
        templates.setdefault(route.path_regex, []).append(route)
    for host in manager["route_config"]["virtual_hosts"]:
        for entry in host["routes"]:
            name = operation(entry, templates)
            if name is not None and "route" in entry:
                entry["decorator"] = {"operation": name}
    config["static_resources"]["clusters"].append(collector_cluster(settings))
