"""`python -m observability.dashboard`: write the Grafana dashboard (grafana/blog-platform.json).

The dashboard is code: panels are listed here and rendered to JSON, so a change is one
line and the JSON is never hand-edited (tests check the committed file is this output and
that every metric it names is one the services or Envoy really expose).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "grafana" / "blog-platform.json"
API = 'grpc_service=~"blog\\\\..+"'
UNARY = f'{API}, grpc_type="unary"'
RATE = "[$__rate_interval]"
ROUTES = 'envoy_virtual_host="api"'
GATEWAY = 'envoy_http_conn_manager_prefix="gateway"'

# (row title, [(panel title, unit, [(legend, expr), ...]), ...])
ROWS: list[tuple[str, list[tuple[str, str, list[tuple[str, str]]]]]] = [
    (
        "API calls (gRPC, per RPC)",
        [
            (
                "Calls per second by RPC",
                "reqps",
                [
                    (
                        "{{grpc_method}}",
                        f"sum by (grpc_method) (rate(grpc_server_handled_total{{{UNARY}}}{RATE}))",
                    )
                ],
            ),
            (
                "Failed calls per second by RPC and code",
                "reqps",
                [
                    (
                        "{{grpc_method}} {{grpc_code}}",
                        "sum by (grpc_method, grpc_code) (rate(grpc_server_handled_total"
                        f'{{{UNARY}, grpc_code!="OK"}}{RATE}))',
                    )
                ],
            ),
            (
                "p99 latency by RPC",
                "s",
                [
                    (
                        "{{grpc_method}}",
                        "histogram_quantile(0.99, sum by (grpc_method, le) "
                        f"(rate(grpc_server_handling_seconds_bucket{{{UNARY}}}{RATE})))",
                    )
                ],
            ),
            (
                "Availability (1 h, SLO 99.9%)",
                "percentunit",
                [("{{job}}", "1 - blog:grpc_server_errors:ratio_rate1h")],
            ),
        ],
    ),
    (
        "Gateway (Envoy, per REST route)",
        [
            (
                "Requests per second by route",
                "reqps",
                [
                    (
                        "{{envoy_virtual_cluster}}",
                        "sum by (envoy_virtual_cluster) "
                        f"(rate(envoy_vhost_vcluster_upstream_rq_completed{{{ROUTES}}}{RATE}))",
                    )
                ],
            ),
            (
                "p99 upstream latency by route",
                "ms",
                [
                    (
                        "{{envoy_virtual_cluster}}",
                        "histogram_quantile(0.99, sum by (envoy_virtual_cluster, le) "
                        f"(rate(envoy_vhost_vcluster_upstream_rq_time_bucket{{{ROUTES}}}{RATE})))",
                    )
                ],
            ),
            (
                "Responses per second by status class",
                "reqps",
                [
                    (
                        "{{envoy_response_code_class}}xx",
                        "sum by (envoy_response_code_class) "
                        f"(rate(envoy_http_downstream_rq_xx{{{GATEWAY}}}{RATE}))",
                    )
                ],
            ),
            (
                "Healthy upstream workers",
                "short",
                [
                    (
                        "{{envoy_cluster_name}}",
                        "sum by (envoy_cluster_name) (envoy_cluster_membership_healthy"
                        '{envoy_cluster_name=~"auth|articles"})',
                    )
                ],
            ),
        ],
    ),
    (
        "Database",
        [
            (
                "Connection pool",
                "short",
                [
                    ("{{job}} in use", "sum by (job) (blog_db_pool_in_use)"),
                    ("{{job}} waiting", "sum by (job) (blog_db_pool_waiting)"),
                    ("{{job}} size", "sum by (job) (blog_db_pool_size)"),
                ],
            ),
            (
                "Database errors behind calls, by kind",
                "reqps",
                [("{{job}} {{kind}}", f"sum by (job, kind) (rate(blog_db_errors_total{RATE}))")],
            ),
            (
                "Calls per batched read statement",
                "short",
                [
                    (
                        "{{read}}",
                        f"sum by (read) (rate(blog_articles_read_batch_size_sum{RATE})) / "
                        f"sum by (read) (rate(blog_articles_read_batch_size_count{RATE}))",
                    )
                ],
            ),
        ],
    ),
    (
        "Account feed and keys",
        [
            (
                "Feed lag",
                "s",
                [("seconds behind", "max(blog_articles_feed_seconds_behind)")],
            ),
            (
                "Feed events behind, consumers connected",
                "short",
                [
                    ("events behind", "max(blog_articles_feed_events_behind)"),
                    ("consumers", "sum(blog_articles_feed_consumer_active)"),
                ],
            ),
            (
                "Auth keys known, refreshes",
                "short",
                [
                    ("keys known", "max(blog_articles_auth_keys_known)"),
                    (
                        "refreshes/s {{outcome}}",
                        f"sum by (outcome) (rate(blog_articles_auth_key_refreshes_total{RATE}))",
                    ),
                ],
            ),
        ],
    ),
    (
        "Shedding, throttles and worker restarts",
        [
            (
                "Password work shed, logins throttled",
                "reqps",
                [
                    ("shed", f"sum(rate(blog_auth_bcrypt_shed_total{RATE}))"),
                    ("throttled", f"sum(rate(blog_auth_login_throttled_total{RATE}))"),
                    (
                        "RESOURCE_EXHAUSTED answers",
                        "sum(rate(grpc_server_handled_total"
                        f'{{{UNARY}, grpc_code="RESOURCE_EXHAUSTED"}}{RATE}))',
                    ),
                ],
            ),
            (
                "bcrypt queue",
                "short",
                [
                    ("queued", "sum(blog_auth_bcrypt_queue_depth)"),
                    ("in progress", "sum(blog_auth_bcrypt_in_progress)"),
                ],
            ),
            (
                "Workers died and restarted (15 min)",
                "short",
                [
                    (
                        "{{job}} {{instance}}",
                        "sum by (job, instance) (increase(blog_worker_exits_total[15m]))",
                    )
                ],
            ),
        ],
    ),
]

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


Query = tuple[str, str]  # legend, PromQL


def _panel(
    ident: int, title: str, unit: str, queries: list[Query], x: int, y: int
) -> dict[str, Any]:
    return {
        "id": ident,
        "type": "timeseries",
        "title": title,
        "datasource": DATASOURCE,
        "gridPos": {"h": 8, "w": 6, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
        "targets": [
            {
                "refId": chr(ord("A") + i),
                "datasource": DATASOURCE,
                "expr": expr,
                "legendFormat": legend,
            }
            for i, (legend, expr) in enumerate(queries)
        ],
    }


def build() -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    y = 0
    for title, row in ROWS:
        panels.append(
            {
                "id": len(panels) + 1,
                "type": "row",
                "title": title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
                "panels": [],
            }
        )
        y += 1
        for index, (name, unit, queries) in enumerate(row):
            panels.append(_panel(len(panels) + 1, name, unit, queries, 6 * index, y))
        y += 8
    return {
        "title": "Blog platform",
        "uid": "blog-platform",
        "tags": ["blog", "grpc", "envoy"],
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "time": {"from": "now-1h", "to": "now"},
        "refresh": "30s",
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "type": "datasource",
                    "query": "prometheus",
                    "label": "Prometheus",
                }
            ]
        },
        "panels": panels,
    }


def expressions(dashboard: dict[str, Any]) -> list[str]:
    """Every PromQL expression in a dashboard."""
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def main() -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(build(), indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
