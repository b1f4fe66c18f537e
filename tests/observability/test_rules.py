"""The dashboards and alerts as code: promtool accepts the rules and their unit tests pass,
and the dashboard is what observability.dashboard renders, naming only real metrics."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from observability import dashboard
from tests.observability.promql import RULES, metric_names, recorded, rules

pytestmark = pytest.mark.unit  # promtool and files: no stack

# What the services (svckit.metrics, svckit.db_metrics, svckit.exporter, */metrics.py) and
# Envoy export; tests/observability/test_metrics_e2e.py checks the names against real scrapes.
EXPORTED_PREFIXES = (
    "grpc_server_",
    "blog_db_",
    "blog_auth_",
    "blog_articles_",
    "blog_worker_",
    "envoy_",
)


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail(
            "promtool is not installed: it comes with Debian's `prometheus` package "
            "(apt-get install -y prometheus)"
        )
    return found


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *args], capture_output=True, text=True, timeout=60, check=False, cwd=RULES
    )


def test_promtool_accepts_the_recording_and_alerting_rules():
    checked = run("check", "rules", "recording.yml", "alerts.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_alerts_fire_as_their_unit_tests_on_synthetic_series_expect():
    tested = run("test", "rules", "tests.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout + tested.stderr


def test_the_scrape_config_example_is_valid_with_its_rule_files():
    checked = run("check", "config", "scrape.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_alert_has_a_severity_and_a_summary():
    alerts = [rule for rule in rules() if "alert" in rule]
    assert len(alerts) >= 6
    for alert in alerts:
        assert alert["labels"]["severity"] in {"page", "ticket"}, alert["alert"]
        assert alert["annotations"]["summary"], alert["alert"]


def test_the_committed_dashboard_is_what_the_code_renders():
    committed = json.loads(dashboard.OUT.read_text())
    assert committed == dashboard.build(), "run `python -m observability.dashboard`"


def test_the_dashboard_and_rules_name_only_exported_or_recorded_series():
    expressions = dashboard.expressions(dashboard.build())
    expressions += [rule["expr"] for rule in rules()]
    names = set().union(*(metric_names(expr) for expr in expressions))
    unknown = {
        name for name in names - recorded() - {"up"} if not name.startswith(EXPORTED_PREFIXES)
    }
    assert unknown == set()
    assert {"grpc_server_handled_total", "envoy_vhost_vcluster_upstream_rq_completed"} <= names


def test_metric_names_reads_selectors_not_functions_labels_or_ranges():
    expr = 'sum by (job) (rate(a_total{x="y(z)"}[5m])) / on (job) b + bool_thing offset 5m'
    assert metric_names(expr) == {"a_total", "b", "bool_thing"}
