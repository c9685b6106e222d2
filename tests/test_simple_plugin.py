"""``altlas_sdk.simple``: a ``SimplePlugin`` registers, through the real plugin manager,
its models' new task, a backend per model class (named by the entry, with its tasks and
concurrency) and the catalog entry; the service loads the model from its real files
through ``setup`` and answers with ``predict``."""

from __future__ import annotations

from pathlib import Path

import pytest
from msgspec import Struct

from altlas.plugins import PluginRecord, load_plugins
from altlas_sdk import CancellationToken, DevicePolicy, MemoryEstimate, ModelFiles, ModelSpec
from altlas_sdk.errors import Cancelled
from altlas_sdk.simple import SimpleBackend, SimpleModel, SimplePlugin
from altlas_sdk.tasks import TaskSpec, field_shorthand


class ShoutInput(Struct, kw_only=True, forbid_unknown_fields=True):
    text: str


class ShoutOutput(Struct, kw_only=True):
    text: str


SHOUT = TaskSpec("shout", ShoutInput, ShoutOutput, shorthand=field_shorthand("text", str))


class Shout(SimpleModel):
    """Upper-cases the text and ends it with the punctuation its file holds."""

    entry = ModelSpec(id="shouter", backend="shout", tasks=["shout"], source="shout.txt")
    new_task = SHOUT
    max_concurrency = 2

    def setup(self, files: ModelFiles, policy: DevicePolicy) -> None:
        self.ending = files.path.read_text().strip()

    @classmethod
    def estimate_memory(cls, spec: ModelSpec, files: ModelFiles) -> MemoryEstimate:
        return MemoryEstimate(ram_bytes=1234)

    def predict(self, inputs: ShoutInput, parameters: object) -> ShoutOutput:
        return ShoutOutput(text=inputs.text.upper() + self.ending)


@pytest.fixture
def shout_runtime(make_runtime, monkeypatch, base_env):
    (Path(base_env["MODEL_DIR"]) / "shout.txt").write_text("!!\n")
    original = load_plugins

    def with_shout(settings):
        plugins = original(settings)
        plugins.register(SimplePlugin(Shout), PluginRecord("shout", "shout-dist", "1", False))
        return plugins

    monkeypatch.setattr("altlas.runtime.load_plugins", with_shout)
    return make_runtime(ALTLAS_LOAD_PLUGINS="none")


def test_the_plugin_registers_its_task_backend_and_entry(shout_runtime):
    registry = shout_runtime.registry
    assert registry.tasks["shout"].plugin == "shout"
    backend = registry.backends["shout"]
    assert backend.plugin == "shout" and isinstance(backend.item, SimpleBackend)
    assert (backend.item.tasks, backend.item.max_concurrency) == (("shout",), 2)
    assert registry.catalog["shouter"].plugin == "shout"


def test_the_service_loads_it_from_its_files_and_serves_it(shout_runtime, serve):
    with serve(shout_runtime) as client:
        response = client.post("/api/tasks/shout", json={"inputs": "hello"})
        assert response.status_code == 200, response.text
        assert response.json()["outputs"] == {"text": "HELLO!!"}
        status = client.get("/api/models/shouter/status").json()
        assert status["state"] == "loaded"
        assert status["memory_estimated"] == {"ram_bytes": 1234, "gpu_bytes": 0}


def test_a_cancelled_request_never_reaches_predict(tmp_path):
    (tmp_path / "shout.txt").write_text("!")
    model = SimpleBackend(Shout).load(
        Shout.entry, ModelFiles(path=tmp_path / "shout.txt"), DevicePolicy()
    )
    token = CancellationToken()
    assert model.infer("shout", ShoutInput(text="a"), None, token) == ShoutOutput(text="A!")
    token.cancel()
    with pytest.raises(Cancelled):
        model.infer("shout", ShoutInput(text="a"), None, token)
