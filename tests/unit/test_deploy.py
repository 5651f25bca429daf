"""deploy/ checked against the code and docker-compose.yml: Prometheus scrapes every process at
the port compose gives it, every alert rule is well-formed and every dashboard panel has a query.
(That every metric they name is exported by a running stack: tests/e2e/test_operating.py.)"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
METRIC = re.compile(r"\bpivotwatch_[a-z0-9_]+")


def metric_names() -> set[str]:
    """Every pivotwatch metric name the files of deploy/ use."""
    text = "".join(p.read_text() for p in sorted(DEPLOY.rglob("*")) if p.is_file())
    return set(METRIC.findall(text))


def _rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load((DEPLOY / "alerts.yml").read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


class TestPrometheusConfig:
    def test_every_process_is_scraped_at_its_compose_port(self) -> None:
        config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
        targets = {
            sd["names"][0]: sd["port"]
            for job in config["scrape_configs"]
            for sd in job["dns_sd_configs"]
        }
        env = COMPOSE["x-app"]["environment"]
        assert targets == {
            "ingest": 8001,
            "timeline": 8002,
            "notify": 8003,
            "relay": int(env["PIVOTWATCH_RELAY_METRICS_PORT"]),
            "enrich-worker": int(env["PIVOTWATCH_ENRICH_METRICS_PORT"]),
            "notify-worker": int(env["PIVOTWATCH_NOTIFY_METRICS_PORT"]),
        }
        assert set(targets) <= set(COMPOSE["services"])

    def test_it_loads_the_alert_rules_compose_mounts(self) -> None:
        config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
        mounts = COMPOSE["services"]["prometheus"]["volumes"]
        for rule_file in config["rule_files"]:
            assert f"./deploy/{Path(rule_file).name}:{rule_file}:ro" in mounts


class TestAlerts:
    def test_every_rule_is_complete(self) -> None:
        rules = _rules()
        assert rules
        for rule in rules:
            assert rule["alert"].startswith("Pivotwatch") and rule["expr"].strip()
            assert rule["labels"]["severity"] in ("page", "ticket")
            assert rule["annotations"]["summary"]

    def test_the_rule_in_the_reliability_document_is_the_one_deployed(self) -> None:
        doc = (ROOT / "docs" / "reliability.md").read_text()
        block = doc.split("An alert rule for Prometheus", 1)[1].split("```yaml", 1)[1]
        (documented,) = yaml.safe_load(block.split("```", 1)[0])["groups"][0]["rules"]
        assert documented in _rules()


class TestDashboard:
    def test_every_panel_queries_something(self) -> None:
        dash = json.loads((DEPLOY / "grafana" / "pivotwatch.json").read_text())
        panels = [p for p in dash["panels"] if p["type"] != "row"]
        assert panels
        for panel in panels:
            assert panel["targets"] and all(METRIC.search(t["expr"]) for t in panel["targets"])


def test_the_names_used_are_the_codes_own() -> None:
    # Importing the modules registers their metrics (the running stack: tests/e2e).
    from prometheus_client import REGISTRY

    import services.enrich.relay
    import services.enrich.tasks
    import services.notify.dispatcher  # noqa: F401
    import shared.metrics  # noqa: F401

    known = {
        sample_name
        for family in REGISTRY.collect()
        for sample_name in (
            family.name,
            f"{family.name}_total",
            f"{family.name}_bucket",
            f"{family.name}_sum",
            f"{family.name}_count",
        )
    }
    assert metric_names() - known == set()
