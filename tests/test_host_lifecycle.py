"""The core's side of model hosts that share models between API servers and run
replicas, through the real app: an explicit unload removes a model for every server,
any other unload lets go on this one; a model another server unloaded is dropped
quietly; a model's lane takes ``replicas`` times its backend's calls at once; a load is
planned only onto nodes that have its ``placement``'s resources.

The ``shared`` host registered here runs the echo fixture's models in this process,
says when a model is gone and records what the core called; it tests the core's own
logic only (the Ray host's cluster tests cover the real thing)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import httpx
import pytest

import altlas.runtime
from altlas.budget import Budget, Fits
from altlas.placement import NodeBudget, plan_placement
from altlas.plugins import PluginRecord
from altlas_sdk import HostInfo, LoadedModel, MemoryEstimate, ModelHost, NodeInfo, hookimpl
from altlas_sdk.errors import Conflict

MODEL = "echo-1"
DEADLINE_S = 60.0


class SharedModel(LoadedModel):
    """The backend's model, which another API server may unload (``gone``)."""

    def __init__(self, inner: LoadedModel, spec_id: str, host: SharedHost, replicas: int) -> None:
        self.inner, self.spec_id, self.shared, self.replicas = inner, spec_id, host, replicas
        self.device = inner.device
        self.gone = False

    def infer(self, task, inputs, parameters, cancel):
        return self.inner.infer(task, inputs, parameters, cancel)

    def alive(self) -> bool:
        return not self.gone

    def unload(self) -> None:
        self.shared.calls.append(("unload", self.spec_id))
        self.inner.unload()

    def release(self) -> None:
        self.shared.calls.append(("release", self.spec_id))

    def host(self) -> HostInfo:
        return HostInfo(kind="shared", pid=os.getpid(), replicas=self.replicas)


class SharedHost(ModelHost):
    """MODEL_HOST=shared: in this process, replicas allowed, one node."""

    name = "shared"

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.models: dict[str, SharedModel] = {}

    def load(self, backend, spec, files, policy, *, node=None):
        model = SharedModel(backend.load(spec, files, policy), spec.id, self, spec.replicas)
        self.models[spec.id] = model
        return model

    def nodes(self) -> list[NodeInfo]:
        return [NodeInfo(node="here", ram_total_bytes=1 << 34)]


class SharedHostPlugin:
    def __init__(self, host: SharedHost) -> None:
        self.host = host

    @hookimpl
    def register_model_hosts(self, register):
        register(self.host)


@pytest.fixture
def shared(fixture_plugins, monkeypatch: pytest.MonkeyPatch) -> SharedHost:
    """A ``shared`` host registered as a plugin of the runtimes this test builds."""
    import altlas_fixture_echo

    altlas_fixture_echo.EVENTS.clear()
    host = SharedHost()
    load_plugins = altlas.runtime.load_plugins

    def with_shared_host(settings):
        plugins = load_plugins(settings)
        plugins.register(SharedHostPlugin(host), PluginRecord("shared-host", None, None, False))
        return plugins

    monkeypatch.setattr(altlas.runtime, "load_plugins", with_shared_host)
    return host


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def test_only_an_explicit_unload_removes_a_shared_model(
    shared, make_runtime, serve, tmp_path: Path
):
    config = tmp_path / "altlas.toml"
    config.write_text("[models.echo-2]\nkeep_alive = 0\n")
    runtime = make_runtime(config, ALTLAS_LOAD_PLUGINS="fixture-echo", MODEL_HOST="shared")
    with serve(runtime) as client:
        assert client.post(f"/api/models/{MODEL}/load").json()["host"]["kind"] == "shared"
        assert client.post(f"/api/models/{MODEL}/unload").json()["state"] == "available"
        assert shared.calls == [("unload", MODEL)]

        # keep_alive 0: idle at once after the request, and let go on this server only.
        run = client.post("/api/inference/", json={"model_id": "echo-2", "inputs": "ab"})
        assert run.json()["outputs"] == {"text": "ba"}
        wait_for(lambda: ("release", "echo-2") in shared.calls, "the idle unload")
        assert ("unload", "echo-2") not in shared.calls

        assert client.post("/api/models/blob-1/load").status_code == 200
    # Shutdown lets go too; the explicit unload was the only unload().
    assert shared.calls[-1] == ("release", "blob-1")
    assert [call for call in shared.calls if call[0] == "unload"] == [("unload", MODEL)]
    counts = runtime.models.counts
    assert (counts["requested", MODEL], counts["idle", "echo-2"]) == (1, 1)
    assert counts["shutdown", "blob-1"] == 1


def test_an_evicted_shared_model_is_released(shared, make_runtime, serve, tmp_path: Path):
    config = tmp_path / "altlas.toml"
    config.write_text("".join(f"[models.{mid}]\nmemory_mb = 60\n" for mid in ("echo-1", "echo-2")))
    runtime = make_runtime(
        config,
        ALTLAS_LOAD_PLUGINS="fixture-echo",
        MODEL_HOST="shared",
        RAM_MEMORY_LIMIT="100",
        MIN_RESIDENCY="0",
    )
    with serve(runtime) as client:
        assert client.post("/api/models/echo-1/load").status_code == 200
        assert client.post("/api/models/echo-2/load").status_code == 200
        assert client.get("/api/models/echo-1/status").json()["state"] == "available"
        assert shared.calls == [("release", "echo-1")]
        assert runtime.models.counts["evicted", "echo-1"] == 1


def test_a_model_another_server_unloaded_is_dropped_quietly(shared, make_runtime, serve):
    import altlas_fixture_echo

    runtime = make_runtime(ALTLAS_LOAD_PLUGINS="fixture-echo", MODEL_HOST="shared")
    with serve(runtime) as client:
        first = client.post(f"/api/models/{MODEL}/load").json()
        assert first["state"] == "loaded"
        loads = altlas_fixture_echo.LOADS[MODEL]
        shared.models[MODEL].gone = True  # another API server unloaded it

        status = client.get(f"/api/models/{MODEL}/status").json()
        assert (status["state"], status["crashes"], status["last_exit"]) == (
            "available",
            0,
            None,
        )
        assert all(
            held["model_id"] != MODEL
            for held in client.get("/api/system/resources").json()["models"]
        )
        # The next request loads it again; nothing counts as a crash.
        run = client.post("/api/inference/", json={"model_id": MODEL, "inputs": "abc"})
        assert run.status_code == 200 and run.json()["outputs"] == {"text": "cba"}
        assert altlas_fixture_echo.LOADS[MODEL] == loads + 1
        metrics = client.get("/metrics").text
        assert f'altlas_model_crashes_total{{model="{MODEL}"}}' not in metrics
    counts = runtime.models.counts
    assert counts["unloaded_elsewhere", MODEL] == 1 and counts["crashed", MODEL] == 0
    assert counts["loaded", MODEL] == 2
    # The host was told to let go of the gone model on this server, never to unload it.
    assert ("release", MODEL) in shared.calls and ("unload", MODEL) not in shared.calls


def test_replicas_multiply_the_calls_a_model_runs_at_once(
    shared, make_runtime, serve, tmp_path: Path
):
    config = tmp_path / "altlas.toml"
    config.write_text(f"[models.{MODEL}]\nreplicas = 2\n")  # the echo backend: 1 call each
    runtime = make_runtime(config, ALTLAS_LOAD_PLUGINS="fixture-echo", MODEL_HOST="shared")
    with serve(runtime) as client:
        assert client.post(f"/api/models/{MODEL}/load").json()["host"]["replicas"] == 2
        # "rendezvous" returns only once two calls wait in it together: with one slot
        # the second would queue behind the first and both would time out.
        results: list[httpx.Response] = []

        def call() -> None:
            body = {"model_id": MODEL, "inputs": "rendezvous"}
            results.append(client.post("/api/inference/", json=body))

        threads = [threading.Thread(target=call) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(DEADLINE_S + 10)
        assert [r.status_code for r in results] == [200, 200]
        assert runtime.inference.scheduler.lanes[MODEL].concurrency == 2


def test_a_load_is_planned_only_onto_nodes_with_its_resources():
    budget = Budget(ram_bytes=1000, gpu_bytes=None, min_residency=0.0)
    nodes = [
        NodeBudget("big", budget, {"CPU": 4.0}),
        NodeBudget("gpu", budget, {"CPU": 1.0, "GPU": 1.0, "pool-a": 1.0}),
    ]
    need = MemoryEstimate(ram_bytes=100)

    def plan(placement):
        return plan_placement("m", need, [], {}, nodes, 0.0, single=budget, placement=placement)

    assert plan({})[1] == Fits()  # either node
    assert plan({"GPU": 1}) == ("gpu", Fits())
    assert plan({"pool-a": 0.01, "CPU": 1}) == ("gpu", Fits())
    assert plan({"CPU": 2}) == ("big", Fits())
    with pytest.raises(Conflict) as refused:
        plan({"GPU": 2})
    assert refused.value.code == "placement_unsatisfiable"
    assert "needs {GPU: 2}" in refused.value.message
    assert "node 'big' has GPU: 0; node 'gpu' has GPU: 1" in refused.value.message
    assert plan({"node:gpu": 1, "GPU": 1}) == ("gpu", Fits())
    with pytest.raises(Conflict, match="node 'big' has GPU: 0"):
        plan({"node:big": 1, "GPU": 1})  # the node it is pinned to has no GPU
