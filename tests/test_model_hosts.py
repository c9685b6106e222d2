"""Model hosts, as the core uses them, through the real app: MODEL_HOST picks a
registered host (the built-in ``thread`` by default), the runtime starts and stops it,
loads go through it, each model's status says where it runs and
``/api/system/resources`` lists the host's nodes with their models. The echo fixture's
``fixture`` host runs models in this process but reports two nodes."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import psutil
import pytest

from altlas.config import ConfigError

MODEL = "echo-1"


@pytest.fixture
def echo(fixture_plugins):
    import altlas_fixture_echo

    altlas_fixture_echo.EVENTS.clear()
    return altlas_fixture_echo


def test_the_thread_host_is_the_default_and_reports_this_process(echo, make_runtime, serve):
    runtime = make_runtime(ALTLAS_LOAD_PLUGINS="fixture-echo")
    assert runtime.host.name == "thread"
    with serve(runtime) as client:
        assert client.get(f"/api/models/{MODEL}/status").json()["host"] is None
        loaded = client.post(f"/api/models/{MODEL}/load").json()
        assert loaded["host"] == {"kind": "thread", "node": None, "pid": os.getpid(), "replicas": 1}
        assert loaded["crashes"] == 0 and loaded["last_exit"] is None

        (node,) = client.get("/api/system/resources").json()["nodes"]
        assert node["node"] == socket.gethostname() and node["alive"] is True
        assert node["ram_total_bytes"] == psutil.virtual_memory().total
        assert 0 < node["ram_used_bytes"] <= node["ram_total_bytes"]
        assert node["resources"] == {"CPU": float(psutil.cpu_count())}
        assert node["models"] == [MODEL]


def test_a_plugin_host_is_started_used_and_stopped(echo, make_runtime, serve, tmp_path: Path):
    config = tmp_path / "altlas.toml"
    config.write_text('[models.echo-2]\nplacement = { "node:node-b" = 1 }\n')
    runtime = make_runtime(config, ALTLAS_LOAD_PLUGINS="fixture-echo", MODEL_HOST="fixture")
    assert runtime.host.name == "fixture" and runtime.models.host is runtime.host
    with serve(runtime) as client:
        assert echo.EVENTS[0] == "host-start:altlas"  # before the plugins' startup hooks
        for model_id in (MODEL, "echo-2"):
            assert client.post(f"/api/models/{model_id}/load").status_code == 200
        where = {
            model_id: client.get(f"/api/models/{model_id}/status").json()["host"]
            for model_id in (MODEL, "echo-2")
        }
        assert where[MODEL] == {
            "kind": "fixture",
            "node": "node-a",
            "pid": os.getpid(),
            "replicas": 1,
        }
        assert where["echo-2"]["node"] == "node-b"
        # Inference runs through the host's model.
        response = client.post("/api/inference/", json={"model_id": "echo-2", "inputs": "abc"})
        assert response.json()["outputs"] == {"text": "cba"}

        nodes = {n["node"]: n for n in client.get("/api/system/resources").json()["nodes"]}
        assert set(nodes) == {"node-a", "node-b"}
        assert nodes["node-a"]["models"] == [MODEL] and nodes["node-b"]["models"] == ["echo-2"]
        assert (nodes["node-a"]["gpus"], nodes["node-b"]["gpus"]) == (0, 1)
    # Stopped at shutdown, after the plugins' shutdown hooks and every unload.
    assert echo.EVENTS[-2:] == ["shutdown", "host-stop"]


def test_an_unknown_model_host_stops_start_up_naming_the_installed_ones(echo, make_runtime):
    with pytest.raises(ConfigError) as raised:
        make_runtime(ALTLAS_LOAD_PLUGINS="fixture-echo", MODEL_HOST="nowhere")
    message = str(raised.value)
    assert message.startswith("MODEL_HOST: 'nowhere' is not registered")
    assert "fixture, thread" in message


def test_the_thread_host_refuses_replicas_with_a_409(echo, make_runtime, serve, tmp_path: Path):
    config = tmp_path / "altlas.toml"
    config.write_text(f"[models.{MODEL}]\nreplicas = 2\n")
    runtime = make_runtime(config, ALTLAS_LOAD_PLUGINS="fixture-echo")
    with serve(runtime) as client:
        response = client.post(f"/api/models/{MODEL}/load")
        assert response.status_code == 409
        error = response.json()["error"]
        assert error["code"] == "replicas_unsupported"
        assert f"model '{MODEL}' asks for 2 replicas" in error["message"]
        after = client.get(f"/api/models/{MODEL}/status").json()
        assert after["state"] == "available" and "replicas" in after["detail"]


def test_bad_replicas_and_placement_in_the_config_file_are_named(echo, make_runtime, tmp_path):
    config = tmp_path / "altlas.toml"
    config.write_text(f"[models.{MODEL}]\nreplicas = 0\nplacement = {{ GPU = -1 }}\n")
    with pytest.raises(ConfigError, match="replicas"):
        make_runtime(config, ALTLAS_LOAD_PLUGINS="fixture-echo")


def test_each_node_has_its_own_budget(echo, make_runtime, serve, tmp_path: Path):
    config = tmp_path / "altlas.toml"
    config.write_text(
        "".join(f"[models.{mid}]\nmemory_mb = 60\n" for mid in ("echo-1", "echo-2", "blob-1"))
    )
    runtime = make_runtime(
        config,
        ALTLAS_LOAD_PLUGINS="fixture-echo",
        MODEL_HOST="fixture",
        RAM_MEMORY_LIMIT="100",  # per node: one 60 MB model each
        MIN_RESIDENCY="0",
    )

    def node_of(client, model_id: str) -> str | None:
        host = client.get(f"/api/models/{model_id}/status").json()["host"]
        return host and host["node"]

    with serve(runtime) as client:
        assert client.post("/api/models/echo-1/load").status_code == 200
        assert node_of(client, "echo-1") == "node-a"
        # node-a is full: echo-2 goes to node-b rather than evicting echo-1.
        assert client.post("/api/models/echo-2/load").status_code == 200
        assert node_of(client, "echo-2") == "node-b"
        nodes = {
            n["node"]: n["models"] for n in client.get("/api/system/resources").json()["nodes"]
        }
        assert nodes == {"node-a": ["echo-1"], "node-b": ["echo-2"]}

        # Both nodes full: the least recently used model of any node makes room.
        assert client.post("/api/inference/", json={"model_id": "echo-1", "inputs": "a"}).is_success
        assert client.post("/api/models/blob-1/load").status_code == 200
        assert node_of(client, "blob-1") == "node-b"
        assert client.get("/api/models/echo-2/status").json()["state"] == "available"
        assert node_of(client, "echo-1") == "node-a"

        # Both nodes held by pinned models: 507 names each node and what holds it.
        for model_id in ("echo-1", "blob-1"):
            assert client.post(f"/api/models/{model_id}/load", json={"pin": True}).is_success
        refused = client.post("/api/models/echo-2/load")
        assert refused.status_code == 507
        message = refused.json()["error"]["message"]
        assert message.startswith("model 'echo-2' fits no node.")
        assert "node 'node-a': model 'echo-2' needs 60 MB RAM" in message
        assert "echo-1 60 MB (pinned)" in message and "blob-1 60 MB (pinned)" in message
        assert message.index("node-a") < message.index("echo-1") < message.index("node 'node-b'")


def test_a_model_placed_on_a_node_loads_there_or_says_why_not(
    echo, make_runtime, serve, tmp_path: Path
):
    config = tmp_path / "altlas.toml"
    config.write_text(
        '[models.echo-1]\nplacement = { "node:node-b" = 1 }\n'
        '[models.echo-2]\nplacement = { "node:node-z" = 1 }\n'
    )
    runtime = make_runtime(config, ALTLAS_LOAD_PLUGINS="fixture-echo", MODEL_HOST="fixture")
    with serve(runtime) as client:
        assert client.post("/api/models/echo-1/load").json()["host"]["node"] == "node-b"
        missing = client.post("/api/models/echo-2/load")
        assert missing.status_code == 507
        assert (
            "placed on node 'node-z', which the model host does not have"
            in (missing.json()["error"]["message"])
        )
