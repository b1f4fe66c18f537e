"""The gateway's HTTP filter chain, and what Envoy itself answers and logs.

Filter order matters: CORS answers preflights first; the login rate limit refuses before
anything is buffered; the buffer filter enforces the body limit; Lua sits before the
transcoder so that, on the way back, it sees the transcoded response (201/204,
WWW-Authenticate, response_body); the transcoder turns REST into gRPC; the router sends
it to a service's workers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gateway.config import GatewaySettings
from gateway.descriptors import Descriptors
from gateway.upstreams import typed

LUA = Path(__file__).resolve().parent / "status.lua"
TRANSCODER = "envoy.filters.http.grpc_json_transcoder"
CORS = "envoy.filters.http.cors"
LUA_FILTER = "envoy.filters.http.lua"
RATE_LIMIT = "envoy.filters.http.local_ratelimit"
RATE_LIMITED_MESSAGE = "Too many login requests; try again later"
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
NOSNIFF = {
    "header": {"key": "x-content-type-options", "value": "nosniff"},
    "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
}


def http_filters(
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


def cors_policy(settings: GatewaySettings) -> dict[str, Any]:
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


def local_replies() -> dict[str, Any]:
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


def access_log(settings: GatewaySettings) -> list[dict[str, Any]]:
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
