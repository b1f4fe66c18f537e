"""Render envoy.yaml from the gateway settings and the descriptor set (never hand-edited).

Filter order matters: CORS answers preflights first; the login rate limit refuses before
anything is buffered; the buffer filter enforces the body limit; Lua sits before the
transcoder so that, on the way back, it sees the transcoded response (201/204,
WWW-Authenticate, response_body); the transcoder turns REST into gRPC; the router sends
it to a service's workers.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import yaml

from gateway import docs, openapi, stats, tracing
from gateway.config import GatewaySettings
from gateway.descriptors import Descriptors, HttpRoute, for_envoy, load
from gateway.upstreams import address, cluster, cluster_of, seconds, typed, write_endpoints

LUA = Path(__file__).resolve().parent / "status.lua"
TRANSCODER = "envoy.filters.http.grpc_json_transcoder"
CORS = "envoy.filters.http.cors"
LUA_FILTER = "envoy.filters.http.lua"
RATE_LIMIT = "envoy.filters.http.local_ratelimit"
# The one route Envoy rate-limits (per instance, GATEWAY_LOGIN_RATE_PER_MINUTE).
LOGIN = ("POST", "/auth/login")
RATE_LIMITED_MESSAGE = "Too many login requests; try again later"
# Client-sent address headers are removed before Envoy adds its own (use_remote_address),
# so x-forwarded-for and x-envoy-external-address only ever hold the peer Envoy saw.
CLIENT_ADDRESS_HEADERS = ("x-forwarded-for", "x-envoy-external-address", "x-real-ip", "forwarded")
# Envoy's edge recommendations for HTTP/2 clients (docs: "Configuring Envoy as an edge proxy").
HTTP2_LIMITS = {
    "max_concurrent_streams": 100,
    "initial_stream_window_size": 65536,
    "initial_connection_window_size": 1048576,
}
# The services' reads are safe to repeat on any failure. A write is retried only when it
# provably never ran: no connection, a refused stream, or CANCELLED, which is what a
# draining grpc.aio server answers to the calls it accepted but never handed to a handler
# (tests/service/articles/test_drain.py; seen as a 499 in the healing fault run). Never on
# a reset or UNAVAILABLE, which may come after the write committed.
READ_RETRIES = "unavailable,cancelled,connect-failure,refused-stream,reset"
WRITE_RETRIES = "cancelled,connect-failure,refused-stream"
# Envoy's own (text/plain) error replies become google.rpc.Status-shaped JSON.
LOCAL_REPLY_CODES = {
    400: 3,
    401: 16,
    403: 7,
    404: 5,
    405: 12,
    408: 4,
    413: 8,
    431: 8,
    503: 14,
    504: 4,
}
ACCESS_LOG_FORMAT = (
    "[%START_TIME%] %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% "
    '"%REQ(X-ENVOY-ORIGINAL-METHOD?:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" '
    "%RESPONSE_CODE% grpc=%GRPC_STATUS% %RESPONSE_FLAGS% in=%BYTES_RECEIVED% "
    'out=%BYTES_SENT% %DURATION%ms upstream="%UPSTREAM_HOST%" id=%REQ(X-REQUEST-ID)% '
    "xff=%REQ(X-FORWARDED-FOR)%\n"
)
DOCS_CONTENT_TYPE = "text/html; charset=utf-8"


NOSNIFF = {
    "header": {"key": "x-content-type-options", "value": "nosniff"},
    "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
}
DISABLED = {TRANSCODER: typed("envoy.config.route.v3.FilterConfig", disabled=True)}


def _served_file(path: str, file: Path, content_type: str) -> dict[str, Any]:
    return {
        "match": {"path": path, "headers": [_methods("GET", "HEAD")]},
        "direct_response": {"status": 200, "body": {"filename": str(file)}},
        "response_headers_to_add": [
            {
                "header": {"key": "content-type", "value": content_type},
                "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
            }
        ],
        "typed_per_filter_config": DISABLED,
    }


def _methods(*methods: str) -> dict[str, Any]:
    return {"name": ":method", "string_match": {"safe_regex": {"regex": "|".join(methods)}}}


def _docs_routes(openapi_file: Path, page: Path) -> list[dict[str, Any]]:
    routes = [
        _served_file("/openapi.json", openapi_file, "application/json"),
        _served_file("/docs", page, DOCS_CONTENT_TYPE),
        _served_file("/docs/", page, DOCS_CONTENT_TYPE),
    ]
    for name, file in docs.ASSETS.items():
        routes.append(_served_file(f"/docs/{name}", file, docs.CONTENT_TYPES[file.suffix]))
    return routes


def _retries(retry_on: str) -> dict[str, Any]:
    """Up to two retries, each on another host than the ones already tried."""
    return {
        "retry_on": retry_on,
        "num_retries": 2,
        "retry_host_predicate": [
            {
                "name": "envoy.retry_host_predicates.previous_hosts",
                "typed_config": typed(
                    "envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"
                ),
            }
        ],
        "host_selection_retry_max_attempts": 3,
    }


def _api_routes(settings: GatewaySettings, routes: list[HttpRoute]) -> list[dict[str, Any]]:
    """One Envoy route per path template; GETs on it get a retrying route of their own."""
    by_path: dict[str, list[HttpRoute]] = {}
    for route in routes:
        by_path.setdefault(route.path_regex, []).append(route)
    result: list[dict[str, Any]] = []
    for regex, bound in by_path.items():
        clusters = {cluster_of(route.service) for route in bound}
        if len(clusters) != 1:
            raise ValueError(f"{regex} is bound to several services: {sorted(clusters)}")
        action: dict[str, Any] = {
            "cluster": clusters.pop(),
            "timeout": seconds(settings.request_timeout_seconds),
        }
        match = {"safe_regex": {"regex": regex}}
        # status.lua answers 405 with this Allow header to any other method.
        allow = ", ".join(sorted({route.verb for route in bound}))
        if any(route.verb == "GET" for route in bound):
            read = {**action, "retry_policy": _retries(READ_RETRIES)}
            entry = {"match": {**match, "headers": [_methods("GET")]}, "route": read}
            unwrap = {route.response_body for route in bound if route.verb == "GET"} - {""}
            if unwrap:
                # status.lua reads this to return the field itself, e.g. a bare JSON array.
                entry["metadata"] = {"filter_metadata": {LUA_FILTER: {"unwrap": unwrap.pop()}}}
            result.append(entry)
        lua: dict[str, Any] = {"allow": allow}
        # status.lua answers these methods' 200s as 201/204 (openapi.SEMANTICS says which).
        codes = {route.verb: openapi.SEMANTICS[route.rpc].success for route in bound}
        success = {verb: str(code) for verb, code in codes.items() if code != 200}
        if success:
            lua["success"] = success
        entry = {
            "match": match,
            "route": {**action, "retry_policy": _retries(WRITE_RETRIES)},
            "metadata": {"filter_metadata": {LUA_FILTER: lua}},
        }
        if any((route.verb, route.template) == LOGIN for route in bound):
            entry["typed_per_filter_config"] = {RATE_LIMIT: login_rate_limit(settings)}
        result.append(entry)
    if not any("typed_per_filter_config" in entry for entry in result):
        raise ValueError(f"no route for {' '.join(LOGIN)}: the login rate limit has no home")
    return result


def login_rate_limit(settings: GatewaySettings) -> dict[str, Any]:
    """A token bucket of one minute's allowance, refilled evenly (whole seconds)."""
    per_minute = settings.login_rate_per_minute
    step = math.gcd(per_minute, 60)
    interval = 60 // step
    enabled = {"default_value": {"numerator": 100, "denominator": "HUNDRED"}}
    return typed(
        "envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
        stat_prefix="login_rate_limit",
        token_bucket={
            "max_tokens": per_minute,
            "tokens_per_fill": per_minute // step,
            "fill_interval": f"{interval}s",
        },
        filter_enabled={**enabled, "runtime_key": "login_rate_limit.enabled"},
        filter_enforced={**enabled, "runtime_key": "login_rate_limit.enforced"},
        response_headers_to_add=[
            {
                "header": {"key": "retry-after", "value": str(interval)},
                "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
            }
        ],
    )


def _cors(settings: GatewaySettings) -> dict[str, Any]:
    origins = [
        {"safe_regex": {"regex": ".*"}} if origin == "*" else {"exact": origin}
        for origin in settings.cors_origins
    ]
    return typed(
        "envoy.extensions.filters.http.cors.v3.CorsPolicy",
        allow_origin_string_match=origins,
        allow_methods="GET, POST, PATCH, DELETE, OPTIONS",
        allow_headers="authorization, content-type",
        expose_headers="www-authenticate, x-next-page-token",
        max_age="600",
        # Tokens travel in the Authorization header, never in cookies: no credentials.
        allow_credentials=False,
    )


def _local_replies() -> dict[str, Any]:
    mappers: list[dict[str, Any]] = [
        {
            # Envoy's only local 429 is the login rate limit (a service's 429 is transcoded,
            # not a local reply); its own body would say "local_rate_limited".
            "filter": _status_filter("EQ", 429),
            "body": {"inline_string": RATE_LIMITED_MESSAGE},
            "headers_to_add": [NOSNIFF],
            "body_format_override": {
                "json_format": {"code": 8, "message": "%LOCAL_REPLY_BODY%", "details": []},
                "content_type": "application/json",
            },
        }
    ]
    for status, code in [*LOCAL_REPLY_CODES.items(), (400, 2)]:
        compare = "EQ" if code != 2 else "GE"
        mappers.append(
            {
                "filter": _status_filter(compare, status),
                "headers_to_add": [NOSNIFF],  # Envoy's own replies skip the route's headers
                "body_format_override": {
                    "json_format": {"code": code, "message": "%LOCAL_REPLY_BODY%", "details": []},
                    "content_type": "application/json",
                },
            }
        )
    return {"mappers": mappers}


def _status_filter(op: str, status: int) -> dict[str, Any]:
    value = {"default_value": status, "runtime_key": "local_reply.x"}
    return {"status_code_filter": {"comparison": {"op": op, "value": value}}}


def _access_log(settings: GatewaySettings) -> list[dict[str, Any]]:
    text = {"text_format_source": {"inline_string": ACCESS_LOG_FORMAT}}
    if settings.access_log_path == "-":
        stdout = typed("envoy.extensions.access_loggers.stream.v3.StdoutAccessLog", log_format=text)
        return [{"name": "envoy.access_loggers.stdout", "typed_config": stdout}]
    file = typed(
        "envoy.extensions.access_loggers.file.v3.FileAccessLog",
        path=settings.access_log_path,
        log_format=text,
    )
    return [{"name": "envoy.access_loggers.file", "typed_config": file}]


def _filters(
    settings: GatewaySettings, descriptors: Descriptors, descriptor_file: Path
) -> list[dict[str, Any]]:
    transcoder = typed(
        "envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder",
        proto_descriptor=str(descriptor_file),
        services=descriptors.services(),
        # Routes match the REST path, so CORS and per-route settings see it, and the
        # gRPC-only RPCs (no HTTP annotation) have no route at all.
        match_incoming_request_route=True,
        convert_grpc_status=True,
        print_options={"always_print_primitive_fields": True, "preserve_proto_field_names": True},
        request_validation_options={
            "reject_unknown_method": True,
            "reject_unknown_query_parameters": True,
            "reject_binding_body_field_collisions": True,
        },
        max_request_body_size=settings.max_request_body_bytes,
        max_response_body_size=settings.max_response_body_bytes,
        query_param_unescape_plus=True,
    )
    lua = typed(
        "envoy.extensions.filters.http.lua.v3.Lua",
        default_source_code={"inline_string": LUA.read_text()},
    )
    # The transcoder streams JSON it can parse, so its own request limit is not enough.
    buffer = typed(
        "envoy.extensions.filters.http.buffer.v3.Buffer",
        max_request_bytes=settings.max_request_body_bytes,
    )
    # Does nothing by itself: the login route carries the token bucket (typed_per_filter_config).
    rate_limit = typed(
        "envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
        stat_prefix="rate_limit",
    )
    return [
        {"name": CORS, "typed_config": typed("envoy.extensions.filters.http.cors.v3.Cors")},
        {"name": RATE_LIMIT, "typed_config": rate_limit},
        {"name": "envoy.filters.http.buffer", "typed_config": buffer},
        {"name": LUA_FILTER, "typed_config": lua},
        {"name": TRANSCODER, "typed_config": transcoder},
        {
            "name": "envoy.filters.http.router",
            "typed_config": typed("envoy.extensions.filters.http.router.v3.Router"),
        },
    ]


def upstream_endpoints(settings: GatewaySettings) -> dict[str, list[str]]:
    """Each cluster (named by its proto package) and the endpoints configured for it."""
    return {"auth": settings.auth_endpoints, "articles": settings.articles_endpoints}


def build(settings: GatewaySettings, descriptors: Descriptors, served: Path) -> dict[str, Any]:
    """The whole Envoy bootstrap as a dict.

    `served` holds what render() writes beside envoy.yaml: openapi.json, docs.html and
    descriptors.binpb (the set Envoy loads).
    """
    routes = descriptors.routes()
    for route in routes:
        fields = [f.name for f in descriptors.messages[route.output_type].field]
        # status.lua keeps the response_body field's array and moves the page token after it
        # to the x-next-page-token header.
        if route.response_body and fields not in (
            [route.response_body],
            [route.response_body, "next_page_token"],
        ):
            raise ValueError(
                f"{route.rpc}: response_body needs a message of that one field "
                "(and optionally next_page_token)"
            )
    endpoints = upstream_endpoints(settings)
    services = descriptors.services()
    clusters = []
    for name, listed in endpoints.items():
        health = next((s for s in services if cluster_of(s) == name), "")
        clusters.append(cluster(settings, name, listed, health))
    unknown = {cluster_of(s) for s in services} - endpoints.keys()
    if unknown:
        raise ValueError(f"no endpoints configured for {sorted(unknown)}")
    manager = typed(
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
        access_log=_access_log(settings),
        local_reply_config=_local_replies(),
        route_config={
            "name": "api",
            # Large enough for the Swagger UI bundle served by direct_response.
            "max_direct_response_body_size_bytes": 8 * 1024 * 1024,
            "virtual_hosts": [
                {
                    "name": "api",
                    "domains": ["*"],
                    "routes": _docs_routes(served / "openapi.json", served / "docs.html")
                    + _api_routes(settings, routes),
                    "typed_per_filter_config": {CORS: _cors(settings)},
                    "virtual_clusters": stats.virtual_clusters(routes),
                    # Browsers must not guess a content type (ASVS 14.4.4).
                    "response_headers_to_add": [NOSNIFF],
                }
            ],
        },
        http_filters=_filters(settings, descriptors, served / "descriptors.binpb"),
    )
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
            "clusters": clusters,
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
