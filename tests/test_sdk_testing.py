"""The plugin author's test kit: its pytest fixtures build a real service, and its
conformance suite passes a conforming plugin and catches one that breaks the rules."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ElementTree
from importlib.metadata import entry_points
from pathlib import Path

import pytest


def test_the_kit_is_a_pytest11_plugin():
    found = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert found.get("altlas") == "altlas_sdk.testing.plugin"


def test_importing_the_pytest_plugin_imports_neither_the_core_nor_a_model_library():
    probe = (
        "import sys, altlas_sdk.testing.plugin\n"
        "print(sorted(m for m in ('altlas', 'starlette', 'onnxruntime', 'numpy') "
        "if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


class TestFixtures:
    """The ``altlas_*`` fixtures, with one plugin chosen."""

    @pytest.fixture
    def altlas_plugins(self) -> list[str]:
        return ["onnx"]

    def test_client_serves_the_chosen_plugins_only(self, altlas_client):
        listing = altlas_client.get("/api/plugins").json()
        names = {p["name"] for p in listing["plugins"] if not p["builtin"]}
        assert names == {"onnx"}

    def test_model_dir_is_the_service_model_dir(self, altlas_model_dir, altlas_runtime):
        assert altlas_runtime.settings.model_dir == altlas_model_dir
        assert list(altlas_model_dir.iterdir()) == []

    def test_a_file_in_model_dir_is_served(self, altlas_model_dir, altlas_environ):
        from starlette.testclient import TestClient

        from altlas.config import Settings
        from altlas.http.app import create_app
        from altlas.runtime import Runtime

        build_linear(altlas_model_dir / "double.onnx")
        runtime = Runtime(Settings.load(environ=altlas_environ))
        with TestClient(create_app(runtime), base_url="http://localhost") as client:
            response = client.post(
                "/api/inference/",
                json={
                    "model_id": "double",
                    "inputs": {"tensors": {"x": {"dtype": "float32", "data": [[1.5]]}}},
                },
            )
        assert response.status_code == 200, response.text
        assert response.json()["outputs"]["tensors"]["y"]["data"] == [[3.0]]


def test_server_url_is_a_real_uvicorn_server(altlas_server_url, altlas_runtime):
    import httpx

    assert httpx.get(f"{altlas_server_url}/healthz").json() == {"status": "ok"}
    response = httpx.post(
        f"{altlas_server_url}/api/inference/",
        json={"model_id": "all-minilm-l6-v2", "inputs": ["a cat", "a kitten"]},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert response.json()["outputs"]["dimensions"] == 384
    assert altlas_runtime.started


def test_by_default_every_installed_plugin_loads(altlas_runtime, altlas_plugins):
    assert altlas_plugins is None
    assert "onnx" in altlas_runtime.plugins.records


class TestNoPlugins:
    @pytest.fixture
    def altlas_plugins(self) -> list[str]:
        return []

    def test_empty_list_loads_only_builtins(self, altlas_runtime):
        assert all(record.builtin for record in altlas_runtime.plugins.records.values())


def build_linear(path: Path) -> None:
    """y = 2x, as a real ONNX file."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "two"], ["y"])],
        "double",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1])],
        [numpy_helper.from_array(np.array([2.0], dtype=np.float32), "two")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


ECHO_SUITE = """
from altlas_sdk.errors import InvalidInput
from altlas_sdk.testing import BackendConformance


class TestEcho(BackendConformance):
    plugin = "fixture-echo"
    model_id = "echo-1"
    valid_inputs = "hello"
    bad_inputs = ""
    bad_input_error = InvalidInput
    # The echo fixture imports starlette at import time: the suite must notice.
    heavy_modules = ("starlette",)

    def check_output(self, output):
        assert output.text == "olleh"
"""


def _run_suite(source: str, folder: Path, extra_path: Path) -> dict[str, dict[str, str]]:
    """Run a conformance module in a fresh pytest process; outcomes by class, then by
    test name."""
    (folder / "test_suite.py").write_text(textwrap.dedent(source))
    report = folder / "report.xml"
    env = {**os.environ, "PYTHONPATH": str(extra_path)}
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    outcomes: dict[str, dict[str, str]] = {}
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        failed = case.find("failure") is not None or case.find("error") is not None
        by_name = outcomes.setdefault(case.get("classname").rpartition(".")[2], {})
        by_name[case.get("name")] = "failed" if failed else "passed"
    return outcomes


def test_the_suite_catches_a_plugin_that_breaks_the_rules(installed_fixture_plugins, tmp_path):
    outcomes = _run_suite(ECHO_SUITE, tmp_path, installed_fixture_plugins)["TestEcho"]
    # The echo fixture imports starlette eagerly and never reads its cancellation token.
    assert outcomes.pop("test_import_leaves_the_heavy_library_out") == "failed"
    assert outcomes.pop("test_honours_cancellation") == "failed"
    # Everything else about it conforms.
    assert outcomes == {
        name: "passed"
        for name in (
            "test_plugin_loads_and_registers_its_backend",
            "test_estimates_memory",
            "test_loads",
            "test_reports_memory",
            "test_infers_over_http",
            "test_infers_directly",
            "test_batches",
            "test_rejects_bad_input_with_the_right_error",
            "test_unloads_and_loads_again",
        )
    }


# A plugin that exists only to test the kit's own logic: a task that counts down in
# steps of 10 ms, checking its cancellation token at every step (model "countdown") or
# only before it starts (model "countdown-deaf").
COUNTDOWN_PLUGIN = """
import time

from msgspec import Struct

from altlas_sdk import Backend, LoadedModel, ModelSpec, TaskSpec, hookimpl
from altlas_sdk.errors import InvalidInput


class CountdownInput(Struct, kw_only=True, forbid_unknown_fields=True):
    steps: int


class CountdownOutput(Struct, kw_only=True):
    done: int


class CountdownModel(LoadedModel):
    def __init__(self, every_step):
        self.every_step = every_step

    def infer(self, task, inputs, parameters, cancel):
        if inputs.steps < 0:
            raise InvalidInput("steps must not be negative", param="$.inputs.steps")
        cancel.raise_if_cancelled()
        for _ in range(inputs.steps):
            if self.every_step:
                cancel.raise_if_cancelled()
            time.sleep(0.01)
        return CountdownOutput(done=inputs.steps)


class CountdownBackend(Backend):
    name = "countdown"
    tasks = ("countdown",)

    def load(self, spec, files, policy):
        return CountdownModel(spec.options["every_step"])


@hookimpl
def register_tasks(register):
    register(TaskSpec("countdown", CountdownInput, CountdownOutput))


@hookimpl
def register_backends(register):
    register(CountdownBackend())


@hookimpl
def register_catalog_entries(register):
    for model_id, every_step in (("countdown", True), ("countdown-deaf", False)):
        register(
            ModelSpec(
                id=model_id,
                backend="countdown",
                tasks=["countdown"],
                source="package:altlas_fixture_countdown/__init__.py",
                options={"every_step": every_step},
            )
        )
"""

COUNTDOWN_SUITE = """
from altlas_sdk.testing import BackendConformance


class TestCountdown(BackendConformance):
    plugin = "fixture-countdown"
    model_id = "countdown"
    valid_inputs = {"steps": 2}
    bad_inputs = {"steps": -1}
    slow_inputs = {"steps": 1000}
    heavy_modules = ("numpy",)

    def check_output(self, output):
        assert output.done == 2


class TestCountdownDeaf(TestCountdown):
    model_id = "countdown-deaf"
    slow_inputs = {"steps": 50}
"""


def _install_countdown(tmp_path: Path) -> Path:
    source = tmp_path / "countdown"
    package = source / "altlas_fixture_countdown"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(COUNTDOWN_PLUGIN)
    (source / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
        '[project]\nname = "altlas-fixture-countdown"\nversion = "0.1"\n'
        'dependencies = ["altlas-sdk>=0.1,<0.2"]\n'
        '[project.entry-points.altlas]\nfixture-countdown = "altlas_fixture_countdown"\n'
        '[tool.hatch.build.targets.wheel]\npackages = ["altlas_fixture_countdown"]\n'
    )
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
    )
    return target


def test_the_suite_cancels_a_slow_input_while_it_runs(tmp_path):
    site = _install_countdown(tmp_path)
    suite = tmp_path / "suite"
    suite.mkdir()
    outcomes = _run_suite(COUNTDOWN_SUITE, suite, site)
    # Checking the token at every step conforms in full.
    cooperative = outcomes["TestCountdown"]
    assert len(cooperative) == 11 and set(cooperative.values()) == {"passed"}
    # Checking it only before starting passes the cancelled-before test, not the slow one.
    deaf = outcomes["TestCountdownDeaf"]
    assert deaf.pop("test_honours_cancellation") == "failed"
    assert len(deaf) == 10 and set(deaf.values()) == {"passed"}
