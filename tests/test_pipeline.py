"""The one request pipeline: a request is prepared (selected, decoded) once, the cache is
read before the model is acquired, and every stream frees a queued place when its
client leaves.

The echo fixture backend tests the core's own logic here; it stands in for no
capability.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import altlas.inference.prepare as prepare_module
from altlas.inference.decode import TaskCall

ECHO_CONFIG = """
[models.echo-chat]
backend = "echo"
tasks = ["chat"]
source = "package:altlas_fixture_echo/weights.txt"
max_concurrency = 1
"""


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The task of every decode of raw inputs the pipeline makes, in order."""
    seen: list[str] = []
    real = prepare_module.decode_call

    def counting(spec: Any, raw_inputs: object, raw_parameters: object) -> TaskCall:
        seen.append(spec.id)
        return real(spec, raw_inputs, raw_parameters)

    monkeypatch.setattr(prepare_module, "decode_call", counting)
    return seen


@pytest.fixture
def echo_client(
    fixture_plugins: Path, make_runtime: Callable[..., Any], serve: Any
) -> Iterator[Any]:
    with serve(make_runtime(RESPONSE_CACHE="memory")) as client:
        yield client


def test_an_ensemble_decodes_its_inputs_once(echo_client: Any, decodes: list[str]) -> None:
    response = echo_client.post(
        "/api/inference/orchestrated",
        json={
            "task_type": "reverse-text",
            "model_id": ["echo-1", "echo-2"],
            "inputs": "abc",
            "ensemble": True,
            "combiner": "fixture-join",
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["outputs"] == {"text": "cba|cba"}
    # One decode served both members.
    assert decodes == ["reverse-text"]


def test_a_fallback_chain_decodes_its_inputs_once(echo_client: Any, decodes: list[str]) -> None:
    response = echo_client.post(
        "/api/inference/orchestrated",
        json={"task_type": "reverse-text", "model_id": ["echo-1", "echo-2"], "inputs": "abc"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["outputs"] == {"text": "cba"}
    assert decodes == ["reverse-text"]


def test_parallel_decodes_once_per_task(echo_client: Any, decodes: list[str]) -> None:
    response = echo_client.post(
        "/api/inference/parallel",
        json={"model_ids": ["echo-1", "echo-2"], "inputs": "abc"},
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert results["echo-1"]["outputs"] == results["echo-2"]["outputs"] == {"text": "cba"}
    assert decodes == ["reverse-text"]


def test_a_cache_hit_needs_no_load_and_no_load_on_demand(
    fixture_plugins: Path, make_runtime: Callable[..., Any], serve: Any
) -> None:
    from altlas_fixture_echo import LOADS

    runtime = make_runtime(RESPONSE_CACHE="memory", LOAD_ON_DEMAND="false")
    with serve(runtime) as client:
        assert client.post("/api/models/echo-1/load").status_code == 200
        request = {"model_id": "echo-1", "inputs": "cached text"}
        first = client.post("/api/inference/", json=request)
        assert first.status_code == 200 and first.json()["from_cache"] is False
        loads = LOADS.get("echo-1", 0)
        assert client.post("/api/models/echo-1/unload").json()["state"] == "available"

        # Unloaded, and loading on demand is off: the cached answer is still served.
        hit = client.post("/api/inference/", json=request)
        assert hit.status_code == 200, hit.text
        assert hit.json()["from_cache"] is True
        assert hit.json()["outputs"] == first.json()["outputs"]
        assert client.get("/api/models/echo-1/status").json()["state"] == "available"
        assert LOADS.get("echo-1", 0) == loads
        # A request the cache has not seen needs the model: 409, as before.
        miss = client.post("/api/inference/", json={"model_id": "echo-1", "inputs": "new"})
        assert miss.status_code == 409
        assert miss.json()["error"]["code"] == "model_not_loaded"


def _metric(client: httpx.Client, name: str, **labels: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{key}="{value}"' in line for key, value in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _wait_for(client: httpx.Client, name: str, value: float, **labels: str) -> None:
    """Wait for a server state, however busy the machine (bounded: a minute)."""
    import time

    deadline = time.monotonic() + 60
    while _metric(client, name, **labels) != value:
        assert time.monotonic() < deadline, f"{name}{labels} never became {value}"
        time.sleep(0.05)


def _streamed_chat(client: httpx.Client, text: str) -> socket.socket:
    """A streamed chat completion on a raw connection, left open: the client leaves
    when the test closes it."""
    url = client.base_url
    payload = json.dumps(
        {"model": "echo-chat", "messages": [{"role": "user", "content": text}], "stream": True}
    ).encode()
    connection = socket.create_connection((url.host, url.port))
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {url.host}:{url.port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    connection.sendall(head.encode() + payload)
    return connection


def test_a_queued_streaming_client_that_leaves_frees_its_place_at_once(
    altlas_server: Any, installed_fixture_plugins: Path, tmp_path: Path
) -> None:
    config = tmp_path / "altlas.toml"
    config.write_text(ECHO_CONFIG)
    env = {"ALTLAS_CONFIG": str(config), "PYTHONPATH": str(installed_fixture_plugins)}
    with altlas_server(env) as client:
        # The first stream holds the model's only slot until its client leaves.
        running = _streamed_chat(client, "hold")
        _wait_for(client, "altlas_in_flight", 1, model="echo-chat")
        queued = _streamed_chat(client, "hold")
        _wait_for(client, "altlas_queue_depth", 1, model="echo-chat")

        # The queued client leaves while the first still holds the slot: its place
        # is freed now, not when a first token would have come.
        queued.close()
        _wait_for(client, "altlas_queue_depth", 0, model="echo-chat")
        assert _metric(client, "altlas_in_flight", model="echo-chat") == 1

        running.close()
        _wait_for(client, "altlas_in_flight", 0, model="echo-chat")
        answer = client.post(
            "/v1/chat/completions",
            json={"model": "echo-chat", "messages": [{"role": "user", "content": "ab"}]},
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["choices"][0]["message"]["content"] == "ba"
