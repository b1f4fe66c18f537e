"""Metrics end to end: the real stack (`make run`, 2 workers per service) behind the real
gateway, scraped over HTTP and by a real Prometheus; a worker killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import time

import grpc
import httpx
import pytest
from blog.articles.v1 import articles_pb2, articles_pb2_grpc

from observability import dashboard
from tests.observability.conftest import (
    Prometheus,
    Samples,
    Scrapes,
    exposition_names,
    scrape,
    scrape_until,
    value,
)
from tests.observability.promql import metric_names, recorded, rules

# What the traffic sends; none of it may appear in a scrape.
USERNAME = "metrics_zelda"
EMAIL = "zelda.private@example.com"
PASSWORD = "hunter2-but-longer"
TITLE = "Confidential launch plans"
CONTENT = "The secret ingredient is patience, and lots of it."
LISTS = 12
ARTICLES = "blog.articles.v1.ArticleService"
AUTH = "blog.auth.v1.AuthService"
HANDLED = "grpc_server_handled_total"


@pytest.fixture(scope="module")
def traffic(stack, scrapes: Scrapes) -> dict[str, str]:
    """Calls through the gateway: a user, a login (and a failed one), an article, reads."""
    with httpx.Client(base_url=stack.gateway_url, timeout=10) as http:
        account = {"email": EMAIL, "username": USERNAME, "password": PASSWORD}
        assert http.post("/auth/register", json=account).status_code == 201
        wrong = http.post("/auth/login", data={"username": USERNAME, "password": "nope-nope"})
        assert wrong.status_code == 401
        login = http.post("/auth/login", data={"username": USERNAME, "password": PASSWORD})
        token = login.json()["access_token"]
        headers = {"authorization": f"Bearer {token}"}
        body = {"title": TITLE, "content": CONTENT, "published": True}
        created = http.post("/articles/", json=body, headers=headers)
        assert created.status_code == 201, created.text
        article = created.json()["id"]
        assert http.get(f"/articles/{article}").status_code == 200
        assert http.get("/articles/987654").status_code == 404
        for _ in range(LISTS):
            assert http.get("/articles?limit=5").status_code == 200
        assert http.get("/auth/me", headers=headers).status_code == 200
    # The last calls of each service, counted: the tests below read the scrapes at once.
    lists = {"grpc_method": "ListArticles", "grpc_code": "OK"}
    scrape_until(scrapes.articles, lambda s: value(s, HANDLED, **lists) >= LISTS)
    me = {"grpc_method": "GetCurrentUser"}
    scrape_until(scrapes.auth, lambda s: value(s, HANDLED, **me) >= 1)
    return {"token": token, "article": str(article)}


def test_each_service_counts_the_calls_by_method_and_code(scrapes: Scrapes, traffic):
    auth, articles = scrape(scrapes.auth), scrape(scrapes.articles)
    assert value(auth, HANDLED, grpc_method="Register", grpc_code="OK") >= 1
    assert value(auth, HANDLED, grpc_method="LoginWithForm", grpc_code="OK") >= 1
    assert value(auth, HANDLED, grpc_method="LoginWithForm", grpc_code="UNAUTHENTICATED") >= 1
    assert value(auth, HANDLED, grpc_service=AUTH, grpc_method="GetCurrentUser") >= 1
    assert value(articles, HANDLED, grpc_method="CreateArticle", grpc_code="OK") >= 1
    assert value(articles, HANDLED, grpc_method="GetArticle", grpc_code="NOT_FOUND") >= 1
    assert value(articles, HANDLED, grpc_method="ListArticles", grpc_code="OK") >= LISTS
    # The feed is a stream: counted as started while it is open.
    started = value(auth, "grpc_server_started_total", grpc_method="WatchUserEvents")
    assert started >= 1
    assert value(auth, "grpc_server_started_total", grpc_type="server_stream") >= 1
    latency = "grpc_server_handling_seconds_count"
    assert value(articles, latency, grpc_method="ListArticles") >= LISTS
    assert value(articles, "blog_articles_read_batch_size_count", read="list") >= LISTS
    assert value(articles, "blog_articles_auth_keys_known") >= 1
    assert value(articles, "blog_db_pool_size") == 20  # two workers' pools of 10, summed


def test_calls_to_each_worker_add_up_in_one_scrape(stack, scrapes: Scrapes):
    """Each worker's own port, called directly: one scrape shows the sum of both."""
    labels = {"grpc_method": "GetArticle", "grpc_code": "NOT_FOUND"}
    before = value(scrape(scrapes.articles), "grpc_server_handled_total", **labels)
    base = int(stack.env["ARTICLES_WORKER_BASE_PORT"])
    for worker in range(2):
        with grpc.insecure_channel(f"127.0.0.1:{base + worker}") as channel:
            stub = articles_pb2_grpc.ArticleServiceStub(channel)
            for _ in range(5):
                with pytest.raises(grpc.RpcError) as missing:
                    stub.GetArticle(articles_pb2.GetArticleRequest(id=876543), timeout=5)
                assert missing.value.code() is grpc.StatusCode.NOT_FOUND
    counted = scrape_until(scrapes.articles, lambda s: value(s, HANDLED, **labels) >= before + 10)
    time.sleep(1.2)  # a further flush of both workers adds nothing
    assert value(counted, HANDLED, **labels) - before == 10
    assert value(scrape(scrapes.articles), HANDLED, **labels) - before == 10


def test_envoy_stats_show_the_routes_and_clusters_but_no_admin(scrapes: Scrapes, traffic):
    envoy = scrape(scrapes.gateway)
    # The parser names counter samples <name>_total (OpenMetrics), Envoy's included.
    routes = "envoy_vhost_vcluster_upstream_rq_completed_total"
    assert value(envoy, routes, envoy_virtual_cluster="get_articles") >= LISTS
    assert value(envoy, routes, envoy_virtual_cluster="post_auth_register") >= 1
    for cluster in ("auth", "articles"):
        assert value(envoy, "envoy_cluster_upstream_rq_total", envoy_cluster_name=cluster) >= 1
        healthy = value(envoy, "envoy_cluster_membership_healthy", envoy_cluster_name=cluster)
        assert healthy == 2  # both workers
    base = scrapes.gateway.removesuffix("/metrics")
    for path in ("/config_dump", "/quitquitquit", "/stats", "/"):
        assert httpx.get(base + path, timeout=5).status_code == 404
    assert httpx.post(base + "/metrics", timeout=5).status_code == 404


def test_metrics_expose_no_user_data(scrapes: Scrapes, traffic):
    secrets = [USERNAME, EMAIL, "zelda", PASSWORD, TITLE, CONTENT, "patience", traffic["token"]]
    for name, url in scrapes.all().items():
        text = httpx.get(url, timeout=10).text
        for secret in secrets:
            assert secret not in text, f"{name}'s /metrics shows {secret!r}"
        assert traffic["token"][:20] not in text
    ids = {value for key in scrape(scrapes.articles) for _, value in key[1]}
    assert traffic["article"] not in ids  # no per-id label
    assert "987654" not in ids


def test_prometheus_sees_the_called_methods_and_evaluates_the_rules(
    stack, prometheus: Prometheus, traffic
):
    _wait_targets_up(prometheus)
    with httpx.Client(base_url=stack.gateway_url, timeout=10) as http:
        deadline = time.monotonic() + 8  # calls while Prometheus scrapes every second
        while time.monotonic() < deadline:
            http.get("/articles?limit=5")
            http.get(f"/articles/{traffic['article']}")
            time.sleep(0.05)
    result = prometheus.query("sum by (grpc_method) (rate(grpc_server_handled_total[1m]))")
    called = {item["metric"]["grpc_method"] for item in result if float(item["value"][1]) > 0}
    assert {"ListArticles", "GetArticle"} <= called
    recorded_series = prometheus.query("blog:grpc_server_handled:rate5m")
    assert {item["metric"]["grpc_method"] for item in recorded_series} >= {"ListArticles"}
    assert prometheus.query("blog:envoy_route_requests:rate5m")
    assert prometheus.query("blog:grpc_server_errors:ratio_rate5m")
    evaluated = prometheus.rules()
    assert len(evaluated) == len(rules())
    assert all(rule["health"] == "ok" for rule in evaluated), evaluated


def test_the_dashboard_and_rules_name_metrics_the_stack_really_exposes(scrapes: Scrapes, traffic):
    exposed = {name for url in scrapes.all().values() for name in exposition_names(url)}
    expressions = dashboard.expressions(dashboard.build()) + [rule["expr"] for rule in rules()]
    named = set().union(*(metric_names(expr) for expr in expressions))
    assert named - recorded() - {"up"} - exposed == set()


def test_a_killed_worker_never_makes_a_total_go_backwards(
    stack, scrapes: Scrapes, prometheus: Prometheus, traffic
):
    [service] = stack.service_pids("article_service")
    workers = stack.worker_pids(service)
    assert len(workers) == 2
    before = _counters(scrape(scrapes.articles))
    exits = value(scrape(scrapes.articles), "blog_worker_exits_total")
    os.kill(workers[0], signal.SIGKILL)
    during = _counters(scrape(scrapes.articles))  # the supervisor still answers
    restarted = _wait_new_worker(stack, service, workers)
    assert restarted not in workers
    time.sleep(3)  # a few scrapes and sampler rounds with the new worker
    after = scrape(scrapes.articles)
    for key, counted in before.items():
        assert during.get(key, 0.0) >= counted, key
        assert _counters(after).get(key, 0.0) >= counted, key
    assert value(after, "blog_db_pool_size") == 20  # the dead worker's gauges are gone
    assert value(after, "blog_worker_exits_total") == exits + 1
    resets = prometheus.query('sum(resets(grpc_server_handled_total{job="blog-articles"}[5m]))')
    assert float(resets[0]["value"][1]) == 0


def _counters(samples: Samples) -> Samples:
    kinds = ("_total", "_count", "_sum", "_bucket")
    return {key: v for key, v in samples.items() if key[0].endswith(kinds)}


def _wait_new_worker(stack, service: int, old: list[int]) -> int:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        current = stack.worker_pids(service)
        fresh = [pid for pid in current if pid not in old]
        if len(current) == 2 and fresh:
            return int(fresh[0])
        time.sleep(0.2)
    raise AssertionError("the killed worker was not restarted")


def _wait_targets_up(prometheus: Prometheus) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        up = prometheus.query("up")
        if len(up) == 3 and all(item["value"][1] == "1" for item in up):
            return
        time.sleep(0.5)
    raise AssertionError(f"targets not up: {prometheus.query('up')}")
