"""The Grafana dashboard and the alert rules query what the server really exports: every
metric name in their PromQL is in the ``/metrics`` of a real ``altlas serve``, and every
dashboard expression parses (``promtool check rules`` on them as recording rules)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
DASHBOARD = DEPLOY / "grafana" / "altlas-dashboard.json"
RULES = DEPLOY / "prometheus" / "altlas-rules.yml"
METRIC = re.compile(r"\baltlas_[a-z0-9_]+\b")
# What a type's family exports under its name (the text parser drops _total).
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def _dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            queries.append(variable["query"]["query"])
    return queries


def _rule_queries() -> list[str]:
    text = RULES.read_text()
    # Each `expr:` and the indented lines of its block.
    return re.findall(r"expr: \|?\n?((?:.+\n)+?)\s+(?:for|labels):", text)


def _exported(text: str) -> set[str]:
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


def test_every_metric_queried_is_exported(altlas_server) -> None:
    with altlas_server({"ALTLAS_LOAD_PLUGINS": ""}) as client:
        client.get("/api/models/")  # one request counted, for good measure
        exported = _exported(client.get("/metrics").text)
    queried = {
        source: {name for query in queries for name in METRIC.findall(query)}
        for source, queries in (("dashboard", _dashboard_queries()), ("rules", _rule_queries()))
    }
    assert len(queried["dashboard"]) >= 15, queried["dashboard"]
    assert len(queried["rules"]) >= 7, queried["rules"]
    for source, names in queried.items():
        assert names <= exported, f"{source} queries {sorted(names - exported)}, not exported"


def test_every_dashboard_query_parses(tmp_path: Path) -> None:
    """Grafana's variables replaced by values, each query is a recording rule that
    ``promtool check rules`` parses."""
    promtool = shutil.which("promtool")
    assert promtool, (
        "promtool is not installed: it parses the dashboard's queries "
        "(apt-get install prometheus, or a Prometheus release's promtool on PATH)"
    )
    lines = ["groups:", "  - name: dashboard", "    rules:"]
    for number, query in enumerate(_dashboard_queries()):
        concrete = query.replace("$__rate_interval", "5m").replace("$job", ".*")
        concrete = concrete.replace("$instance", ".*")
        if concrete.startswith("label_values("):
            # A Grafana function, not PromQL: its metric selector must parse.
            concrete = concrete[len("label_values(") :].rsplit(",", 1)[0]
        lines.append(f"      - record: dashboard:query_{number}")
        lines.append(f"        expr: {json.dumps(concrete)}")
    rules = tmp_path / "dashboard-rules.yml"
    rules.write_text("\n".join(lines) + "\n")
    checked = subprocess.run(
        [promtool, "check", "rules", str(rules)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(_dashboard_queries())} rules found" in checked.stdout
