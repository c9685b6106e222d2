"""The ray host on a real two-node Ray cluster, through real HTTP: placement, replicas,
crashes (SIGKILL, ``abort()``), eviction, cancellation, streaming, two API servers
sharing one actor, a real model (MiniLM) running unchanged, and traffic that stays on
loopback.

``test_cluster.py`` runs this module inside a network and PID namespace of its own
(only ``127.0.0.1`` exists there); its name keeps a plain ``pytest`` run from
collecting it outside one. Fixtures: ``conftest.py``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil
import pytest

ECHO = 'backend = "echo"\nsource = "package:altlas_fixture_echo/weights.txt"\n'
CONFIG = f"""
[models.echo-2]
placement = {{ "node-b" = 0.01 }}

[models.echo-pair]
{ECHO}tasks = ["reverse-text"]
replicas = 2

[models.echo-chat]
{ECHO}tasks = ["chat"]
max_concurrency = 1

[models.echo-abort]
{ECHO}tasks = ["reverse-text"]

[models.all-minilm-l6-v2]
placement = {{ "node-a" = 0.01 }}
"""
# The second API server: the same echo-1, and three models of which each node's budget
# (RAM_MEMORY_LIMIT applies to each node) holds one.
SECOND_CONFIG = "".join(
    f'[models.{model_id}]\n{ECHO}tasks = ["reverse-text"]\nmemory_mb = 60\n\n'
    for model_id in ("evict-a", "evict-b", "evict-c")
)
#: Where the crash timings go, for the outer test's report.
TIMINGS: dict[str, float] = {}


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60) -> Any:
    """Poll ``check`` until it returns something true (bounded: a minute)."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return result


def status(client: httpx.Client, model_id: str) -> dict[str, Any]:
    return client.get(f"/api/models/{model_id}/status").json()


def infer(client: httpx.Client, model_id: str, text: str) -> httpx.Response:
    return client.post("/api/inference/", json={"model_id": model_id, "inputs": text})


@pytest.fixture(scope="module")
def server(start_server) -> Iterator[httpx.Client]:
    with start_server(CONFIG) as process:
        with httpx.Client(base_url=process.base, timeout=120) as client:
            yield client


@pytest.fixture(scope="module")
def second_server(start_server) -> Iterator[httpx.Client]:
    with start_server(SECOND_CONFIG, RAM_MEMORY_LIMIT="100", MIN_RESIDENCY="0") as process:
        with httpx.Client(base_url=process.base, timeout=120) as client:
            yield client


def test_a_model_runs_in_an_actor_on_the_node_its_placement_names(server, cluster):
    loaded = server.post("/api/models/echo-2/load")
    assert loaded.status_code == 200, loaded.text
    host = loaded.json()["host"]
    assert host["kind"] == "ray" and host["node"] == cluster.nodes["node-b"]
    # Not the API server's process: a Ray worker running the model's actor.
    assert psutil.Process(host["pid"]).cmdline()[0].startswith("ray::ModelActor")
    assert infer(server, "echo-2", "abc").json()["outputs"] == {"text": "cba"}
    described = cluster.describe("echo-2")
    assert (described["node"], described["pid"]) == (host["node"], host["pid"])
    assert described["loads"] == 1 and described["calls"] == 1

    nodes = {n["node"]: n for n in server.get("/api/system/resources").json()["nodes"]}
    assert set(nodes) == set(cluster.nodes.values())
    node_b = nodes[cluster.nodes["node-b"]]
    assert node_b["alive"] and node_b["resources"]["node-b"] == 1.0
    assert "echo-2" in node_b["models"]
    assert "echo-2" not in nodes[cluster.nodes["node-a"]]["models"]
    assert node_b["ram_total_bytes"] > 0


def test_two_replicas_on_two_nodes_both_serve(server, cluster):
    loaded = server.post("/api/models/echo-pair/load").json()
    assert loaded["host"]["replicas"] == 2
    replicas = [cluster.describe("echo-pair", index) for index in (0, 1)]
    assert {r["node"] for r in replicas} == set(cluster.nodes.values())
    assert replicas[0]["pid"] != replicas[1]["pid"]
    for index in range(6):
        assert infer(server, "echo-pair", f"x{index}").status_code == 200
    calls = [cluster.describe("echo-pair", index)["calls"] for index in (0, 1)]
    assert sum(calls) == 6 and min(calls) >= 1, calls


def _streamed_chat(client: httpx.Client, text: str) -> socket.socket:
    """A streamed chat completion on a raw connection, left open until closed."""
    payload = json.dumps(
        {"model": "echo-chat", "messages": [{"role": "user", "content": text}], "stream": True}
    ).encode()
    url = client.base_url
    connection = socket.create_connection((url.host, url.port))
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {url.host}:{url.port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    connection.sendall(head.encode() + payload)
    return connection


def test_streaming_from_an_actor(server):
    body = {"model": "echo-chat", "messages": [{"role": "user", "content": "abc"}], "stream": True}
    with server.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        events = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    text = "".join(
        choice["delta"].get("content") or ""
        for event in events[:-1]
        for choice in json.loads(event)["choices"]
    )
    assert text == "cba"


def test_a_client_that_leaves_cancels_the_call_inside_the_actor(server, cluster):
    # The echo model's "hold" stream yields nothing until its own cancellation token,
    # inside the actor, is set: the call ends there only if the cancellation got there.
    held = _streamed_chat(server, "hold")
    wait_for("the held stream to run", lambda: cluster.describe("echo-chat")["running"] == 1)
    held.close()
    wait_for("the backend to stop", lambda: cluster.describe("echo-chat")["running"] == 0)
    answer = server.post(
        "/v1/chat/completions",
        json={"model": "echo-chat", "messages": [{"role": "user", "content": "ab"}]},
    )
    assert answer.json()["choices"][0]["message"]["content"] == "ba"


def test_sigkill_of_the_actor_during_an_inference(server, cluster):
    bystander = status(server, "echo-2")["host"]
    pid = server.post("/api/models/echo-1/load").json()["host"]["pid"]
    result: dict[str, Any] = {}

    def held() -> None:
        result["response"] = infer(server, "echo-1", "hold")
        result["answered"] = time.monotonic()

    thread = threading.Thread(target=held)
    thread.start()
    wait_for("the held call to run", lambda: cluster.describe("echo-1")["running"] == 1)
    killed = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    thread.join(60)
    response = result["response"]
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "model_crashed"
    assert response.headers["Retry-After"] == "1"
    TIMINGS["sigkill_to_503_s"] = result["answered"] - killed

    assert server.get("/healthz").status_code == 200
    after = status(server, "echo-1")
    assert after["state"] == "error" and after["crashes"] == 1 and after["last_exit"]
    # Other models never notice.
    assert status(server, "echo-2")["host"] == bystander
    assert infer(server, "echo-2", "ok").status_code == 200
    # The next request loads the model again, in a new actor.
    again = infer(server, "echo-1", "abc")
    assert again.status_code == 200 and again.json()["outputs"] == {"text": "cba"}
    TIMINGS["sigkill_to_next_success_s"] = time.monotonic() - killed
    assert status(server, "echo-1")["host"]["pid"] != pid


def test_a_backend_that_aborts_takes_down_its_actor_only(server, cluster):
    pid = server.post("/api/models/echo-abort/load").json()["host"]["pid"]
    crashed = infer(server, "echo-abort", "abort")
    assert crashed.status_code == 503 and crashed.json()["error"]["code"] == "model_crashed"
    assert "echo-abort" in crashed.json()["error"]["message"]
    assert server.get("/healthz").status_code == 200
    assert status(server, "echo-abort")["crashes"] == 1
    served = infer(server, "echo-abort", "abc")
    assert served.status_code == 200 and served.json()["outputs"] == {"text": "cba"}
    assert status(server, "echo-abort")["host"]["pid"] != pid


def test_a_real_model_runs_unchanged_in_an_actor(server, cluster, tmp_path: Path):
    from altlas_onnx.backend import OnnxBackend
    from altlas_onnx.catalog import MINILM_L6
    from altlas_sdk.testing.service import loaded_model

    texts = ["A man is playing guitar.", "Someone plays an instrument."]
    response = server.post("/api/inference/", json={"model_id": MINILM_L6.id, "inputs": texts})
    assert response.status_code == 200, response.text
    remote = np.array(response.json()["outputs"]["embeddings"])
    assert status(server, MINILM_L6.id)["host"]["node"] == cluster.nodes["node-a"]
    # The same backend in this process gives the same vectors.
    from altlas_sdk import CancellationToken
    from altlas_sdk.tasks import EmbeddingInput, EmbeddingParameters

    with loaded_model(OnnxBackend(), MINILM_L6, tmp_path) as model:
        local = model.infer(
            "embedding", EmbeddingInput(texts=texts), EmbeddingParameters(), CancellationToken()
        )
    assert np.allclose(remote, np.array(local.embeddings), atol=1e-5)


def test_eviction_when_the_budget_of_each_node_is_full(second_server, cluster):
    where = {}
    for model_id in ("evict-a", "evict-b"):
        loaded = second_server.post(f"/api/models/{model_id}/load")
        assert loaded.status_code == 200, loaded.text
        where[model_id] = loaded.json()["host"]["node"]
    # 60 MB each, 100 MB per node: one model per node.
    assert set(where.values()) == set(cluster.nodes.values())
    loaded = second_server.post("/api/models/evict-c/load")
    assert loaded.status_code == 200, loaded.text
    # The least recently used model made room, on its node; this server was its only
    # holder, so its actor is gone.
    assert loaded.json()["host"]["node"] == where["evict-a"]
    assert status(second_server, "evict-a")["state"] == "available"
    with pytest.raises(ValueError):
        cluster.actor("evict-a")
    assert status(second_server, "evict-b")["state"] == "loaded"
    assert cluster.describe("evict-c")["loads"] == 1


def test_two_api_servers_share_one_actor(server, second_server, cluster):
    first = infer(server, "echo-1", "abc")
    assert first.status_code == 200
    pid = status(server, "echo-1")["host"]["pid"]
    second = infer(second_server, "echo-1", "xyz")
    assert second.status_code == 200 and second.json()["outputs"] == {"text": "zyx"}
    assert status(second_server, "echo-1")["host"]["pid"] == pid
    described = cluster.describe("echo-1")
    assert described["loads"] == 1 and described["holders"] == 2

    # An explicit unload on one server removes the actors for both.
    assert server.post("/api/models/echo-1/unload").json()["state"] == "available"
    with pytest.raises(ValueError):
        cluster.actor("echo-1")
    # The other server sees it within a second: its status leaves "loaded", no crash.
    deadline = time.monotonic() + 60
    while (seen := status(second_server, "echo-1"))["state"] == "loaded":
        assert time.monotonic() < deadline, seen
        time.sleep(0.1)
    assert (seen["state"], seen["crashes"], seen["last_exit"]) == ("available", 0, None)
    # Its next request loads the model again in new actors, answering directly.
    again = infer(second_server, "echo-1", "abc")
    assert again.status_code == 200, again.text
    assert status(second_server, "echo-1")["host"]["pid"] != pid
    assert status(second_server, "echo-1")["crashes"] == 0


def test_nothing_leaves_loopback(server, second_server, cluster):
    """Every socket of the cluster, the servers and their clients, while they all run,
    is on a loopback address (or a wildcard, which here means loopback only)."""
    interfaces = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout
    assert {line.split()[1] for line in interfaces.splitlines()} == {"lo"}
    sockets = subprocess.run(
        ["ss", "-tuanpH"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert len(sockets) > 10
    for line in sockets:
        local, peer = line.split()[4:6]
        for address in (local, peer):
            host = address.rsplit(":", 1)[0].strip("[]")
            assert _loopback_or_wildcard(host), line


def _loopback_or_wildcard(host: str) -> bool:
    if host.startswith("::ffff:"):
        host = host[len("::ffff:") :]
    return host in ("*", "0.0.0.0", "::", "::1") or host.startswith("127.")


@pytest.fixture(scope="module", autouse=True)
def report_timings() -> Iterator[None]:
    """Hands the crash timings to the test that runs this module (``test_cluster.py``)."""
    yield
    path = os.environ.get("ALTLAS_RAY_REPORT")
    if path:
        Path(path).write_text(json.dumps(TIMINGS))
