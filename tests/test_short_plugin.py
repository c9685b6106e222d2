"""docs/writing-plugins.md's short path works as written: the one-model plugin on the page
is at most 40 lines; taken from the page, it builds into a wheel, installs with pip,
loads through the real plugin manager, serves ``rerank`` over HTTP, and passes its own
conformance tests with warnings as errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
GUIDE = REPO / "docs" / "writing-plugins.md"
# A file of the short plugin shown whole in the guide: a marker naming it, then a block.
SHOWN_FILE = re.compile(
    r"<!-- short-plugin: (?P<path>\S+) -->\n```\w*\n(?P<body>.*?)```", re.DOTALL
)
MODULE = "src/altlas_minilm_rerank/__init__.py"
QUERY = {"query": "a sleeping cat", "documents": ["Bonds fell.", "A kitten naps."]}


def _shown_files() -> dict[str, str]:
    return {match["path"]: match["body"] for match in SHOWN_FILE.finditer(GUIDE.read_text())}


@pytest.fixture(scope="module")
def short_plugin(tmp_path_factory: pytest.TempPathFactory, build_and_install) -> tuple[Path, Path]:
    """The plugin's folder written from the guide, and the folder pip installed its
    wheel into (as pip installs any plugin)."""
    root = tmp_path_factory.mktemp("short-plugin")
    source = root / "altlas-minilm-rerank"
    for path, body in _shown_files().items():
        (source / path).parent.mkdir(parents=True, exist_ok=True)
        (source / path).write_text(body)
    wheel, site = build_and_install(source, root)
    assert wheel.name.startswith("altlas_minilm_rerank-")
    return source, site


def test_the_guide_shows_a_whole_plugin_of_at_most_40_lines():
    shown = _shown_files()
    assert set(shown) == {"pyproject.toml", MODULE, "tests/test_conformance.py"}
    lines = shown[MODULE].splitlines()
    assert len(lines) <= 40, f"the short plugin has {len(lines)} lines"


def test_it_loads_through_the_plugin_manager_and_serves_rerank(
    short_plugin, monkeypatch, make_runtime, serve
):
    _source, site = short_plugin
    monkeypatch.syspath_prepend(str(site))
    with serve(make_runtime(ALTLAS_LOAD_PLUGINS="minilm-rerank")) as client:
        plugins = client.get("/api/plugins").json()
        assert plugins["failures"] == []
        (plugin,) = [p for p in plugins["plugins"] if p["name"] == "minilm-rerank"]
        assert plugin["distribution"] == "altlas-minilm-rerank"
        assert {"register_backends", "register_catalog_entries"} <= set(plugin["hooks"])
        tasks = {task["id"]: task for task in client.get("/api/tasks").json()["tasks"]}
        # The core registered the reserved task; the plugin only serves it.
        assert tasks["rerank"]["registered_by"] == "altlas.default_plugins.tasks"
        assert tasks["rerank"]["models"] == ["minilm-rerank"]
        # /openapi.json describes the task it serves, with the task's own schemas.
        document = client.get("/openapi.json").json()
        operation = document["paths"]["/api/tasks/rerank"]["post"]
        assert "InferenceRequest.rerank" in str(operation["requestBody"])
        assert "InferenceRequest.rerank" in document["components"]["schemas"]

        response = client.post("/api/tasks/rerank", json={"inputs": QUERY})
        assert response.status_code == 200, response.text
        results = response.json()["outputs"]["results"]
        assert [result["index"] for result in results] == [1, 0]
        assert results[0]["relevance_score"] > results[1]["relevance_score"] + 0.2
        assert all("document" not in result for result in results)

        top = client.post(
            "/api/tasks/rerank",
            json={"inputs": QUERY, "parameters": {"top_n": 1, "return_documents": True}},
        )
        assert top.status_code == 200, top.text
        (best,) = top.json()["outputs"]["results"]
        assert (best["index"], best["document"]) == (1, "A kitten naps.")

        empty = client.post("/api/tasks/rerank", json={"inputs": {**QUERY, "query": " "}})
        assert empty.status_code == 422 and empty.json()["error"]["param"] == "$.inputs.query"


def test_it_passes_its_conformance_tests_with_warnings_as_errors(short_plugin, run_plugin_tests):
    result = run_plugin_tests(*short_plugin)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b11 passed\b", result.stdout), result.stdout
