"""docs/writing-plugins.md works as written: its example is plugin-template/, shown file
by file; the template builds into a wheel, installs with pip, serves its new task from a
real ``altlas serve`` process, and passes its own conformance tests."""

from __future__ import annotations

import re
import shutil
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = REPO / "plugin-template"
GUIDE = REPO / "docs" / "writing-plugins.md"
BIN = Path(sys.executable).parent
# A file shown whole in the guide: a marker naming it, then a fenced block.
SHOWN_FILE = re.compile(r"<!-- file: (?P<path>\S+) -->\n```\w*\n(?P<body>.*?)```", re.DOTALL)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, build_and_install) -> tuple[Path, Path]:
    """The template built into a wheel (from a copy, so the repo stays clean) and
    pip-installed into a folder of its own, the way pip installs any plugin."""
    root = tmp_path_factory.mktemp("writing-plugins")
    source = root / "altlas-similarity"
    shutil.copytree(TEMPLATE, source, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    wheel, site = build_and_install(source, root)
    assert wheel.name.startswith("altlas_similarity-")
    return wheel, site


def test_the_guide_shows_the_template_files_as_they_are():
    shown = {match["path"]: match["body"] for match in SHOWN_FILE.finditer(GUIDE.read_text())}
    assert set(shown) >= {
        "plugin-template/pyproject.toml",
        "plugin-template/src/altlas_similarity/__init__.py",
        "plugin-template/src/altlas_similarity/task.py",
        "plugin-template/src/altlas_similarity/backend.py",
        "plugin-template/tests/test_conformance.py",
    }
    for path, body in shown.items():
        assert (REPO / path).read_text() == body, f"{path} differs from the guide's copy"


def test_the_wheel_declares_its_entry_point_and_sdk_range(built):
    wheel, _site = built
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read("altlas_similarity-0.1.0.dist-info/METADATA").decode()
        entry_points = archive.read("altlas_similarity-0.1.0.dist-info/entry_points.txt").decode()
    assert "altlas_similarity/backend.py" in names
    assert not any(name.startswith("tests/") for name in names)
    assert "Requires-Dist: altlas-sdk<0.2,>=0.1" in metadata
    assert "[altlas]\nsimilarity = altlas_similarity" in entry_points


def test_the_installed_plugin_serves_its_new_task(built, tmp_path, altlas_server):
    _wheel, site = built
    env = {
        "PYTHONPATH": str(site),
        "MODEL_DIR": str(tmp_path / "models"),
        "CACHE_DIR": str(tmp_path / "cache"),
        "ALTLAS_LOAD_PLUGINS": "similarity",
    }
    with altlas_server(env) as client:
        plugins = client.get("/api/plugins").json()
        assert plugins["failures"] == []
        similarity = next(p for p in plugins["plugins"] if p["name"] == "similarity")
        assert (similarity["distribution"], similarity["version"]) == ("altlas-similarity", "0.1.0")
        tasks = {task["id"]: task for task in client.get("/api/tasks").json()["tasks"]}
        assert tasks["sentence-similarity"]["models"] == ["minilm-similarity"]

        response = client.post(
            "/api/tasks/sentence-similarity",
            json={
                "inputs": {
                    "query": "A cat sits on the mat.",
                    "candidates": ["Bond yields rose sharply.", "A kitten rests on a rug."],
                }
            },
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["model_id"] == "minilm-similarity"
        bonds, kitten = body["outputs"]["scores"]
        assert body["outputs"]["best"] == 1 and kitten > bonds + 0.2

        bad = client.post(
            "/api/inference/",
            json={"model_id": "minilm-similarity", "inputs": {"query": "", "candidates": ["x"]}},
        )
        assert bad.status_code == 422 and bad.json()["error"]["param"] == "$.inputs.query"
        missing = client.post(
            "/api/inference/",
            json={"model_id": "minilm-similarity", "inputs": {"query": "x", "candidates": []}},
        )
        assert missing.status_code == 422
        assert missing.json()["error"]["param"] == "$.inputs.candidates"


def test_the_template_passes_its_own_conformance_tests(built, run_plugin_tests):
    _wheel, site = built
    result = run_plugin_tests(TEMPLATE, site)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b11 passed\b", result.stdout), result.stdout
