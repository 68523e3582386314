"""deploy/prometheus: the alert rules an on-call engineer gets, checked by Prometheus's own
`promtool` (from Debian's prometheus package; `make test` unpacks it into the venv): the rules
and the scrape configuration are valid, the rules' unit tests (alerts_test.yml) pass, and every
simrenew metric a rule reads is one simrenew really exposes."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.test import Client, override_settings
from prometheus_client.parser import text_string_to_metric_families

from simrenew.kit import metrics

FOLDER = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


def promtool() -> str:
    found = Path(sys.executable).with_name("promtool")
    tool = str(found) if found.exists() else shutil.which("promtool")
    assert tool, "promtool is missing: `make promtool` unpacks it from Debian's prometheus package"
    return tool


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], cwd=FOLDER, capture_output=True, text=True, timeout=120)


def test_the_rules_and_the_scrape_configuration_are_valid():
    rules = run("check", "rules", "alerts.yml")
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert "SUCCESS: 9 rules found" in rules.stdout
    config = run("check", "config", "--syntax-only", "prometheus.yml")
    assert config.returncode == 0, config.stdout + config.stderr


def test_each_alert_fires_when_its_story_says_and_reads_as_the_on_call_expects():
    tested = run("test", "rules", "alerts_test.yml")

    assert tested.returncode == 0, tested.stdout + tested.stderr
    stories = yaml.safe_load((FOLDER / "alerts_test.yml").read_text())["tests"]
    alerts = {
        rule["alert"]
        for group in yaml.safe_load((FOLDER / "alerts.yml").read_text())["groups"]
        for rule in group["rules"]
    }
    fired = {case["alertname"] for story in stories for case in story["alert_rule_test"] if case["exp_alerts"]}
    assert fired == alerts  # every alert has a story in which it fires


def test_a_rule_that_reads_a_wrong_figure_fails_its_story(tmp_path: Path):
    """The unit tests can fail: the same stories against a rule with a wrong threshold."""
    broken = (FOLDER / "alerts.yml").read_text().replace("> 900", "> 90000")
    (tmp_path / "alerts.yml").write_text(broken)
    (tmp_path / "alerts_test.yml").write_text((FOLDER / "alerts_test.yml").read_text())

    tested = subprocess.run(
        [promtool(), "test", "rules", "alerts_test.yml"], cwd=tmp_path, capture_output=True, text=True
    )

    assert tested.returncode != 0 and "SimrenewOutboxStuck" in tested.stdout + tested.stderr


@override_settings(SIMRENEW_METRICS_TOKEN="t" * 32)
@pytest.mark.django_db
def test_every_figure_the_rules_read_is_one_simrenew_exposes():
    Client().get("/healthz")  # at least one request series
    metrics.record_renewal("auto_renew", "succeeded")
    metrics.GATEWAY_CALLS.labels("sandbox", "charge", "succeeded").inc(0)
    answer = Client().get("/metrics", headers={"Authorization": "Bearer " + "t" * 32})
    exposed = {family.name for family in text_string_to_metric_families(answer.content.decode())}
    exposed |= {f"{name}_total" for name in exposed}  # counters' samples carry the suffix
    rules = yaml.safe_load((FOLDER / "alerts.yml").read_text())["groups"][0]["rules"]

    read = {name for rule in rules for name in re.findall(r"\bsimrenew_[a-z_]+", rule["expr"])}

    assert read and read <= exposed, read - exposed
