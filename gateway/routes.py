"""The gateway's route table: the API's routes from the protos' HTTP annotations, each with
its retries and the metadata status.lua reads (success codes, Allow, unwrapping), the login
rate limit, and the OpenAPI document and docs page served from files.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from gateway import api_tables, docs
from gateway.config import GatewaySettings
from gateway.descriptors import Descriptors, HttpRoute
from gateway.filters import LUA_FILTER, RATE_LIMIT, TRANSCODER
from gateway.upstreams import cluster_of, seconds, typed

# The one route Envoy rate-limits (per instance, GATEWAY_LOGIN_RATE_PER_MINUTE).
LOGIN = ("POST", "/auth/login")
# The services' reads are safe to repeat on any failure. A write is retried only when it
# provably never ran: no connection, a refused stream, or CANCELLED, which is what a
# draining grpc.aio server answers to the calls it accepted but never handed to a handler
# (tests/service/articles/test_drain.py; seen as a 499 in the healing fault run). Never on
# a reset or UNAVAILABLE, which may come after the write committed.
READ_RETRIES = "unavailable,cancelled,connect-failure,refused-stream,reset"
WRITE_RETRIES = "cancelled,connect-failure,refused-stream"
DOCS_CONTENT_TYPE = "text/html; charset=utf-8"
# What the gateway serves from files skips the transcoder.
DISABLED = {TRANSCODER: typed("envoy.config.route.v3.FilterConfig", disabled=True)}


def _served_file(path: str, file: Path, content_type: str) -> dict[str, Any]:
    return {
        "match": {"path": path, "headers": [methods("GET", "HEAD")]},
        "direct_response": {"status": 200, "body": {"filename": str(file)}},
        "response_headers_to_add": [
            {
                "header": {"key": "content-type", "value": content_type},
                "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
            }
        ],
        "typed_per_filter_config": DISABLED,
    }


def methods(*verbs: str) -> dict[str, Any]:
    """A header match on any of `verbs`."""
    return {"name": ":method", "string_match": {"safe_regex": {"regex": "|".join(verbs)}}}


def docs_routes(openapi_file: Path, page: Path) -> list[dict[str, Any]]:
    """The OpenAPI document, the docs page and its assets, served by Envoy itself."""
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


def api_routes(settings: GatewaySettings, routes: list[HttpRoute]) -> list[dict[str, Any]]:
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
            entry = {"match": {**match, "headers": [methods("GET")]}, "route": read}
            unwrap = {route.response_body for route in bound if route.verb == "GET"} - {""}
            if unwrap:
                # status.lua reads this to return the field itself, e.g. a bare JSON array.
                entry["metadata"] = {"filter_metadata": {LUA_FILTER: {"unwrap": unwrap.pop()}}}
            result.append(entry)
        lua: dict[str, Any] = {"allow": allow}
        # status.lua answers these methods' 200s as 201/204 (api_tables.SEMANTICS says which).
        codes = {route.verb: api_tables.SEMANTICS[route.rpc].success for route in bound}
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


def check_response_bodies(descriptors: Descriptors, routes: list[HttpRoute]) -> None:
    """status.lua keeps a response_body field's array and moves the page token after it to
    the x-next-page-token header: such a reply must hold that field and nothing else."""
    for route in routes:
        fields = [f.name for f in descriptors.messages[route.output_type].field]
        if route.response_body and fields not in (
            [route.response_body],
            [route.response_body, "next_page_token"],
        ):
            raise ValueError(
                f"{route.rpc}: response_body needs a message of that one field "
                "(and optionally next_page_token)"
            )
