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


def _labels_by_metric(text: str) -> dict[str, set[str]]:
    """The label names each exported sample name has (for those with samples)."""
    found: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, set()).update(sample.labels)
    return found


def _scrape_after_traffic(altlas_server, installed_fixture_plugins) -> str:
    """A real server's exposition after a request ran a model (and one more came from
    the cache): most families then have samples, with their labels."""
    env = {"ALTLAS_LOAD_PLUGINS": "fixture-echo", "PYTHONPATH": str(installed_fixture_plugins)}
    with altlas_server(env) as client:
        for _ in range(2):
            body = {"model_id": "echo-1", "inputs": "hello"}
            assert client.post("/api/inference/", json=body).status_code == 200
        return client.get("/metrics").text


def test_every_metric_queried_is_exported(altlas_server, installed_fixture_plugins) -> None:
    text = _scrape_after_traffic(altlas_server, installed_fixture_plugins)
    exported = _exported(text)
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


# Labels Prometheus adds to every scraped series.
TARGET_LABELS = {"job", "instance"}
SELECTOR = re.compile(r"\b(altlas_[a-z0-9_]+)\{([^}]*)\}")
MATCHER = re.compile(r"(\w+)\s*(?:=~|!~|!=|=)")
GROUPING = re.compile(r"\bby \(([^)]*)\)")


def test_every_label_queried_is_exported(altlas_server, installed_fixture_plugins) -> None:
    """The labels each query selects on or groups by are labels of the metrics it
    reads (checked for the metrics that have samples after some traffic)."""
    labels = _labels_by_metric(_scrape_after_traffic(altlas_server, installed_fixture_plugins))
    checked = 0
    for query in _dashboard_queries() + _rule_queries():
        names = set(METRIC.findall(query))
        if not names <= labels.keys():
            continue  # a metric with no sample yet (breakers, keys...): nothing to check
        known = TARGET_LABELS.union(*(labels[name] for name in names))
        for metric, matchers in SELECTOR.findall(query):
            assert set(MATCHER.findall(matchers)) <= labels[metric] | TARGET_LABELS, query
        for grouping in GROUPING.findall(query):
            wanted = {label.strip() for label in grouping.split(",")}
            assert wanted <= known, (query, wanted - known)
        checked += 1
    assert checked >= 15, checked
