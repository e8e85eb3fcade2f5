"""The monitoring pack in deploy/: Prometheus's alert rules pass `promtool check rules`
and their unit tests (`promtool test rules`, deploy/prometheus/alerts_test.yml); each
rule says how long, how bad and what to do; the Grafana dashboard is JSON whose queries
parse; and both use only metrics docs/DEPLOYMENT.md's table lists (which
tests/test_metrics_table.py compares with /metrics).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml
from cluster import ROOT, require_program
from metrics_docs import documented, metrics_table

ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
ALERT_TESTS = ROOT / "deploy" / "prometheus" / "alerts_test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "chat.json"

SEVERITIES = {"critical", "warning"}
#: Metric names in a PromQL expression (Prometheus's own `up` aside): ours and
#: prometheus-client's.
_METRIC = re.compile(r"\b((?:chat|process|python)_[a-z0-9_]+)\b")
#: What Grafana puts in a query before it reaches Prometheus, as a typical value.
_GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$job": "chat", "$instance": ".*"}


def _rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def _dashboard_queries() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel.get("targets", ())]


def _grafana_free(query: str) -> str:
    for variable, value in _GRAFANA_VARIABLES.items():
        query = query.replace(variable, value)
    return query


def _undocumented(expressions: list[str]) -> set[str]:
    rows = metrics_table()
    used = {name for expression in expressions for name in _METRIC.findall(expression)}
    return {name for name in used if documented(name, rows) is None}


def _promtool(*arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    promtool = require_program("promtool", package="prometheus")
    return subprocess.run([promtool, *arguments], capture_output=True, text=True, cwd=cwd)


# --- the alert rules ---


def test_the_alert_rules_pass_promtool_check_rules() -> None:
    checked = _promtool("check", "rules", str(ALERTS), cwd=ALERTS.parent)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(_rules())} rules found" in checked.stdout


def test_the_alert_rules_fire_as_their_unit_tests_say() -> None:
    tested = _promtool("test", "rules", ALERT_TESTS.name, cwd=ALERT_TESTS.parent)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_every_alert_waits_has_a_severity_and_says_what_and_why() -> None:
    for rule in _rules():
        assert "for" in rule, rule["alert"]
        assert rule["labels"]["severity"] in SEVERITIES, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_the_alerts_cover_what_an_operator_pages_on() -> None:
    alerts = {rule["alert"] for rule in _rules()}
    assert {
        "ChatInstanceDown",
        "ChatBusDisconnected",
        "ChatBusLagging",
        "ChatDatabaseUnreachable",
        "ChatCommitLatencyHigh",
        "ChatPushFailures",
        "ChatFilesDiskLow",
    } <= alerts


def test_the_alert_rules_use_only_documented_metrics() -> None:
    assert _undocumented([rule["expr"] for rule in _rules()]) == set()


# --- the dashboard ---


def test_the_dashboard_is_json_with_a_query_in_each_panel_and_unique_ids() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    panels = dashboard["panels"]
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    for panel in panels:
        if panel["type"] != "row":
            assert panel["targets"] and all(t["expr"] for t in panel["targets"]), panel["title"]
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]


def test_the_dashboard_uses_only_documented_metrics() -> None:
    assert _undocumented(_dashboard_queries()) == set()


def test_the_dashboards_queries_parse(tmp_path: Path) -> None:
    # promtool parses PromQL when it checks rules: each query becomes a recording rule.
    queries = [_grafana_free(query) for query in _dashboard_queries()]
    rules = [{"record": f"dashboard:query_{n}", "expr": q} for n, q in enumerate(queries)]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    checked = _promtool("check", "rules", str(path), cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
