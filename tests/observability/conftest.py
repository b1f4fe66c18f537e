"""A real stack (`make run` with 2 workers per service) and a real Prometheus scraping it."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from devstack.launched import LaunchedStack, stack_env
from devstack.ports import free_port
from tests.observability.promql import RULES

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@dataclass(frozen=True)
class Scrapes:
    """Where the stack serves its metrics."""

    auth: str
    articles: str
    gateway: str

    def all(self) -> dict[str, str]:
        return {"auth": self.auth, "articles": self.articles, "gateway": self.gateway}


def scrape(url: str) -> Samples:
    """A real GET of /metrics, parsed with prometheus-client's own parser."""
    reply = httpx.get(url, timeout=10)
    assert reply.status_code == 200, reply.text
    samples: Samples = {}
    for family in text_string_to_metric_families(reply.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def scrape_until(url: str, done: Callable[[Samples], bool], within: float = 5.0) -> Samples:
    """The first scrape `done` holds for, or the last one after `within` seconds. Workers
    write their calls' counts once a second (svckit.metrics), so a call shows up in a
    scrape up to a second after it was answered."""
    deadline = time.monotonic() + within
    samples = scrape(url)
    while not done(samples) and time.monotonic() < deadline:
        time.sleep(0.1)
        samples = scrape(url)
    return samples


def exposition_names(url: str) -> set[str]:
    """The sample names as the exposition writes them (what PromQL selects)."""
    lines = httpx.get(url, timeout=10).text.splitlines()
    return {line.split("{")[0].split(" ")[0] for line in lines if line and line[0] != "#"}


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, found), v in samples.items() if n == name and wanted <= set(found))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaunchedStack]:
    env = stack_env(tmp_path_factory.mktemp("metrics-stack") / "data", workers=2)
    launched = LaunchedStack(env)
    launched.start()
    try:
        yield launched
    finally:
        launched.stop()


@pytest.fixture(scope="module")
def scrapes(stack: LaunchedStack) -> Scrapes:
    env = stack.env
    return Scrapes(
        f"http://127.0.0.1:{env['AUTH_METRICS_PORT']}/metrics",
        f"http://127.0.0.1:{env['ARTICLES_METRICS_PORT']}/metrics",
        f"http://127.0.0.1:{env['GATEWAY_STATS_PORT']}/metrics",
    )


@dataclass(frozen=True)
class Prometheus:
    url: str

    def query(self, expr: str) -> list[dict[str, Any]]:
        reply = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def rules(self) -> list[dict[str, Any]]:
        reply = httpx.get(f"{self.url}/api/v1/rules", timeout=10)
        groups: list[dict[str, Any]] = reply.json()["data"]["groups"]
        return [rule for group in groups for rule in group["rules"]]


def _rule_file(source: Path, target: Path) -> None:
    """Our rules, evaluated every second instead of every 30 s."""
    loaded = yaml.safe_load(source.read_text())
    for group in loaded["groups"]:
        group["interval"] = "1s"
    target.write_text(yaml.safe_dump(loaded))


@pytest.fixture(scope="module")
def prometheus(scrapes: Scrapes, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus is not installed: apt-get install -y prometheus (Debian)")
    work = tmp_path_factory.mktemp("prometheus")
    for name in ("recording.yml", "alerts.yml"):
        _rule_file(RULES / name, work / name)
    jobs = []
    for job, url in scrapes.all().items():
        address = httpx.URL(url)
        target = f"{address.host}:{address.port}"
        jobs.append({"job_name": f"blog-{job}", "static_configs": [{"targets": [target]}]})
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": ["recording.yml", "alerts.yml"],
        "scrape_configs": jobs,
    }
    (work / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    with (work / "prometheus.log").open("wb") as log:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={work / 'prometheus.yml'}",
                f"--storage.tsdb.path={work / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=log,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process, work / "prometheus.log")
        yield Prometheus(url)
    finally:
        process.terminate()
        process.wait(timeout=20)


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"prometheus was not ready:\n{log.read_text()}")
