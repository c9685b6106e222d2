"""The conformance suite every model plugin runs: one subclass per model it serves.

A plugin's test module subclasses :class:`BackendConformance`, names the plugin, a model
and a few inputs, and inherits tests that drive the real core (plugin manager, catalog,
model manager, HTTP app) against the real model::

    from altlas_sdk.errors import InvalidInput
    from altlas_sdk.testing import BackendConformance


    class TestMiniLM(BackendConformance):
        plugin = "onnx"
        model_id = "all-minilm-l6-v2"
        valid_inputs = {"texts": ["a cat", "a kitten"]}
        bad_inputs = {"texts": ["word " * 400]}
        bad_parameters = {"truncate": False}
        bad_input_error = InvalidInput
        heavy_modules = ("onnxruntime", "numpy", "tokenizers")

The model is loaded once per class. The tests check that the plugin loads and registers
its backend, that importing it leaves its heavy library out, that the backend estimates
memory, that the model loads, infers (over HTTP and directly), batches, reports memory,
rejects a bad input with the right error, honours cancellation and unloads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

import msgspec
import pytest

from altlas_sdk.backend import CancellationToken, LoadedModel, MemoryEstimate
from altlas_sdk.errors import Cancelled
from altlas_sdk.testing.conformance_setup import ConformanceSetup

if TYPE_CHECKING:
    from starlette.testclient import TestClient

    from altlas.runtime import Runtime

#: The keys of the one JSON error body.
ERROR_KEYS = {"type", "message", "param", "code", "request_id"}


class BackendConformance(ConformanceSetup):
    """Tests every backend plugin must pass, for one model it serves.

    Set these class attributes in the subclass:

    - ``plugin``: the plugin's entry-point name (in the ``altlas`` group).
    - ``model_id``: the catalog id of the model under test: an entry the plugin
      registers, a file the backend discovers in MODEL_DIR, or the id of the entry
      :meth:`model_spec` returns.
    - ``valid_inputs``: JSON ``inputs`` the model serves (keep it small: every test runs
      it); ``bytes`` values (an image, a sound) are sent base64-encoded.
    - ``bad_inputs``: JSON ``inputs`` that pass the task's schema but that the backend
      must reject, with ``bad_input_error``.
    - ``heavy_modules``: top-level modules that importing the plugin must not import
      (``("torch",)``, ``("llama_cpp",)``...).

    And optionally:

    - ``task``: the task to run (default: the model's first task).
    - ``valid_parameters`` / ``bad_parameters``: JSON ``parameters`` for the valid and
      the bad input (``bad_parameters`` defaults to ``valid_parameters``). A batch
      mixing valid and bad inputs runs with ``bad_parameters``, so ``valid_inputs`` must
      be valid under them too.
    - ``bad_input_error``: the :class:`~altlas_sdk.errors.AltlasError` subclass the bad
      input raises (default :class:`~altlas_sdk.errors.InvalidInput`).
    - ``slow_inputs`` / ``slow_parameters``: an input that runs for a while (a long
      generation): the suite cancels it while it runs.
    - ``environ``: more settings, by variable name (``{"USE_GPU": "true"}``).

    Override :meth:`model_spec` to put files in MODEL_DIR or add a catalog entry, and
    :meth:`check_output` to assert what the output must contain.
    """

    # --- the tests --------------------------------------------------------------------

    def test_plugin_loads_and_registers_its_backend(self, conformance_runtime: Runtime) -> None:
        runtime = conformance_runtime
        failures = {f.name: f.error for f in runtime.plugins.failures}
        assert self.plugin not in failures, f"plugin {self.plugin} failed: {failures[self.plugin]}"
        assert self.plugin in runtime.plugins.records, (
            f"no installed plugin is named {self.plugin!r} (entry point group 'altlas')"
        )
        assert self.model_id in runtime.catalog, f"{self.model_id!r} is not in the catalog"
        spec = runtime.catalog.get(self.model_id).spec
        owned = runtime.registry.backends.get(spec.backend)
        assert owned is not None, f"backend {spec.backend!r} is not registered"
        assert owned.plugin == self.plugin, f"backend {spec.backend!r} comes from {owned.plugin}"
        task = self._task(runtime)
        assert task in spec.tasks and task in owned.item.tasks and task in runtime.registry.tasks
        status = runtime.models.status(self.model_id)
        assert status.state == "available", f"{self.model_id} is {status.state}: {status.detail}"

    def test_import_leaves_the_heavy_library_out(self) -> None:
        assert self.heavy_modules, "name the heavy modules the plugin must import lazily"
        found = list(entry_points(group="altlas", name=self.plugin))
        assert found, f"no entry point {self.plugin!r} in group 'altlas'"
        module = found[0].value.split(":")[0]
        probe = (
            f"import json, sys\nimport {module}\n"
            f"heavy = {list(self.heavy_modules)!r}\n"
            "print(json.dumps(sorted(name for name in sys.modules "
            "if name.split('.')[0] in heavy)))"
        )
        # A fresh interpreter on this one's path: nothing is imported yet.
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        result = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=False
        )
        assert result.returncode == 0, f"importing {module} failed:\n{result.stderr}"
        imported = json.loads(result.stdout.splitlines()[-1])
        assert imported == [], f"importing {module} imported {imported}; import them in load()"

    def test_estimates_memory(self, conformance_runtime: Runtime) -> None:
        runtime = conformance_runtime
        spec = runtime.catalog.get(self.model_id).spec
        files = runtime.resolver.fetch(spec)
        estimate = self._backend(runtime).estimate_memory(spec, files)
        assert isinstance(estimate, MemoryEstimate)
        assert estimate.ram_bytes >= 0 and estimate.gpu_bytes >= 0
        assert estimate.ram_bytes + estimate.gpu_bytes > 0, "the estimate is zero"

    def test_loads(self, conformance_client: TestClient) -> None:
        response = conformance_client.post(f"/api/models/{self.model_id}/load")
        assert response.status_code == 200, response.text
        status = response.json()
        assert status["state"] == "loaded"
        assert status["device"], "a loaded model reports its device"
        assert status["version"], "a loaded model has a version (its own or its files')"

    def test_reports_memory(
        self, conformance_client: TestClient, conformance_model: LoadedModel
    ) -> None:
        status = conformance_client.get(f"/api/models/{self.model_id}/status").json()
        estimated, measured = status["memory_estimated"], status["memory_measured"]
        assert estimated is not None and estimated["ram_bytes"] + estimated["gpu_bytes"] > 0
        assert measured is not None and measured["ram_bytes"] >= 0 and measured["gpu_bytes"] >= 0
        reported = conformance_model.memory()
        if reported is not None:
            # What the model says it holds is what the service reports.
            assert isinstance(reported, MemoryEstimate)
            assert reported.ram_bytes + reported.gpu_bytes > 0
            assert measured == {"ram_bytes": reported.ram_bytes, "gpu_bytes": reported.gpu_bytes}

    def test_infers_over_http(
        self,
        conformance_runtime: Runtime,
        conformance_client: TestClient,
        conformance_model: LoadedModel,
    ) -> None:
        runtime = conformance_runtime
        response = self._post(conformance_client, runtime, self.valid_inputs, self.valid_parameters)
        assert response.status_code == 200, response.text
        spec = self._task_spec(runtime)
        if not response.headers["content-type"].startswith("application/json"):
            # The task renders this output as raw bytes (audio, an image): it must be
            # what the task's renderer makes of the model's own output.
            assert spec.render is not None, f"unexpected {response.headers['content-type']}"
            inputs, parameters = self._decode(runtime, self.valid_inputs, self.valid_parameters)
            output = conformance_model.infer(spec.id, inputs, parameters, CancellationToken())
            self._assert_output(runtime, output)
            rendered = spec.render(output, parameters)
            assert rendered is not None and response.content
            assert response.headers["content-type"].startswith(rendered[1])
            return
        body = response.json()
        assert (body["model_id"], body["task"]) == (self.model_id, spec.id)
        self._assert_output(runtime, msgspec.convert(body["outputs"], spec.output_type))

    def test_infers_directly(
        self, conformance_runtime: Runtime, conformance_model: LoadedModel
    ) -> None:
        runtime = conformance_runtime
        inputs, parameters = self._decode(runtime, self.valid_inputs, self.valid_parameters)
        output = conformance_model.infer(
            self._task(runtime), inputs, parameters, CancellationToken()
        )
        self._assert_output(runtime, output)

    def test_batches(
        self,
        conformance_runtime: Runtime,
        conformance_client: TestClient,
        conformance_model: LoadedModel,
    ) -> None:
        runtime = conformance_runtime
        task = self._task(runtime)
        inputs, parameters = self._decode(runtime, self.valid_inputs, self.valid_parameters)
        results = conformance_model.infer_batch(
            task, [inputs, inputs], parameters, CancellationToken()
        )
        assert len(results) == 2, "one result per input"
        for result in results:
            self._assert_output(runtime, result)
        # A bad input fails only its own slot, natively batched or not.
        valid, bad_parameters = self._decode(runtime, self.valid_inputs, self._bad_parameters())
        bad, _ = self._decode(runtime, self.bad_inputs, self._bad_parameters())
        mixed = conformance_model.infer_batch(
            task, [valid, bad, valid], bad_parameters, CancellationToken()
        )
        assert len(mixed) == 3, "one result per input"
        assert isinstance(mixed[1], self.bad_input_error), f"slot 1 holds {mixed[1]!r}"
        self._assert_output(runtime, mixed[0])
        self._assert_output(runtime, mixed[2])
        # The same through the service's batch route: one call of infer_batch for a
        # backend that batches natively, the core running each input otherwise.
        request = {
            "model_id": self.model_id,
            "task": task,
            "parameters": self._bad_parameters(),
            "cache": False,
        }
        body = {
            "requests": [
                {**request, "inputs": self.valid_inputs},
                {**request, "inputs": self.bad_inputs},
                {**request, "inputs": self.valid_inputs},
            ]
        }
        response = conformance_client.post(
            "/api/inference/batch",
            content=msgspec.json.encode(body),
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 200, response.text
        first, rejected, last = response.json()["results"]
        assert rejected["error"]["type"] == self.bad_input_error.type, rejected
        output_type = self._task_spec(runtime).output_type
        for result in (first, last):
            assert "outputs" in result, result
            self._assert_output(runtime, msgspec.convert(result["outputs"], output_type))

    def test_rejects_bad_input_with_the_right_error(
        self,
        conformance_runtime: Runtime,
        conformance_client: TestClient,
        conformance_model: LoadedModel,
    ) -> None:
        runtime = conformance_runtime
        inputs, parameters = self._decode(runtime, self.bad_inputs, self._bad_parameters())
        with pytest.raises(self.bad_input_error):
            conformance_model.infer(self._task(runtime), inputs, parameters, CancellationToken())
        response = self._post(conformance_client, runtime, self.bad_inputs, self._bad_parameters())
        assert response.status_code == self.bad_input_error.status, response.text
        error = response.json()["error"]
        assert set(error) == ERROR_KEYS
        assert error["type"] == self.bad_input_error.type and error["message"]
        # The service still serves the model after the rejection.
        response = self._post(conformance_client, runtime, self.valid_inputs, self.valid_parameters)
        assert response.status_code == 200, response.text

    def test_honours_cancellation(
        self, conformance_runtime: Runtime, conformance_model: LoadedModel
    ) -> None:
        runtime = conformance_runtime
        task = self._task(runtime)
        inputs, parameters = self._decode(runtime, self.valid_inputs, self.valid_parameters)
        cancelled = CancellationToken()
        cancelled.cancel()
        _assert_cancelled(lambda: conformance_model.infer(task, inputs, parameters, cancelled))
        _assert_cancelled(
            lambda: conformance_model.infer_batch(task, [inputs, inputs], parameters, cancelled)
        )
        if self.slow_inputs is None:
            return
        slow, slow_parameters = self._decode(runtime, self.slow_inputs, self.slow_parameters)
        token = CancellationToken()
        # Cancel once the model is busy: the token is set from another thread, as the
        # core does when a client goes away.
        timer = threading.Timer(0.2, token.cancel)
        timer.start()
        try:
            _assert_cancelled(lambda: conformance_model.infer(task, slow, slow_parameters, token))
        finally:
            timer.cancel()

    def test_unloads_and_loads_again(
        self,
        conformance_runtime: Runtime,
        conformance_client: TestClient,
        conformance_model: LoadedModel,
    ) -> None:
        response = conformance_client.post(f"/api/models/{self.model_id}/unload")
        assert response.status_code == 200, response.text
        status = response.json()
        assert status["state"] == "available" and status["memory_measured"] is None
        assert conformance_runtime.models.loaded_model(self.model_id) is None
        # Loads again on demand, and serves.
        response = self._post(
            conformance_client, conformance_runtime, self.valid_inputs, self.valid_parameters
        )
        assert response.status_code == 200, response.text
        assert conformance_runtime.models.loaded_model(self.model_id) is not None


def _assert_cancelled(run: Any) -> None:
    """``run`` must raise :class:`Cancelled` or return output marked as cancelled."""
    try:
        result = run()
    except Cancelled:
        return
    results: Sequence[object] = result if isinstance(result, list) else [result]
    for item in results:
        if isinstance(item, Cancelled):
            continue
        reason = getattr(item, "finish_reason", None)
        assert reason == "cancelled", (
            f"a cancelled token must stop the run (raise altlas_sdk.errors.Cancelled or "
            f"finish with finish_reason 'cancelled'); got {item!r}"
        )
