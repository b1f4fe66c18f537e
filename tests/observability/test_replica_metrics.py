"""`ARTICLES_REPLICAS=2 make run`: each replica serves its own /metrics on its own loopback
address (same port), and the launcher prints both addresses."""

from __future__ import annotations

import httpx

from devstack.launched import LaunchedStack, stack_env
from tests.observability.conftest import scrape, value


def test_each_replica_serves_its_own_metrics_on_its_own_address(tmp_path):
    env = stack_env(tmp_path / "data", ARTICLES_REPLICAS="2")
    port = env["ARTICLES_METRICS_PORT"]
    with LaunchedStack(env) as stack:
        printed = stack.output()
        for host in ("127.0.0.1", "127.0.0.2"):
            url = f"http://{host}:{port}/metrics"
            assert url in printed
            samples = scrape(url)
            assert value(samples, "blog_db_pool_size") == 20  # that replica's two workers
        envoy = httpx.get(f"http://127.0.0.1:{env['GATEWAY_STATS_PORT']}/metrics", timeout=5)
        assert envoy.status_code == 200
