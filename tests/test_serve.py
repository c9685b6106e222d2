"""The real service: ``altlas serve`` and ``uvicorn altlas.main:app`` as subprocesses,
driven over HTTP with httpx, on the real MiniLM model."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

BIN = Path(sys.executable).parent


@pytest.fixture
def running(run_server):
    """A server command on a port, as an httpx client on its base URL."""

    @contextmanager
    def run(command: Callable[[int], list[str]], env: dict[str, str]) -> Iterator[httpx.Client]:
        with run_server(command, env) as server:
            with httpx.Client(base_url=server.base, timeout=60) as client:
                yield client

    return run


def test_altlas_serve_end_to_end(base_env, running):
    def command(port: int) -> list[str]:
        return [str(BIN / "altlas"), "serve", "--port", str(port)]

    with running(command, base_env) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        names = {p["name"] for p in client.get("/api/plugins").json()["plugins"]}
        assert "onnx" in names

        model = client.get("/api/models/all-minilm-l6-v2").json()
        assert model["status"]["state"] == "available"
        assert client.post("/api/models/all-minilm-l6-v2/load").json()["state"] == "loaded"

        response = client.post(
            "/api/inference/",
            json={
                "model_id": "all-minilm-l6-v2",
                "inputs": [
                    "A cat sits on the mat.",
                    "A kitten rests on a rug.",
                    "Bond yields rose.",
                ],
            },
        )
        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"model_id", "task", "outputs", "timing", "from_cache", "request_id"}
        assert set(body["timing"]) == {"queue_ms", "inference_ms", "total_ms"}
        assert body["timing"]["total_ms"] >= body["timing"]["inference_ms"] > 0
        cat, kitten, bonds = body["outputs"]["embeddings"]
        assert len(cat) == body["outputs"]["dimensions"] == 384

        def cos(a, b):
            return sum(x * y for x, y in zip(a, b, strict=False))

        assert cos(cat, kitten) > cos(cat, bonds) + 0.2

        default = client.post("/api/tasks/embedding", json={"inputs": "hello"}).json()
        assert default["model_id"] == "all-minilm-l6-v2"

        missing = client.post("/api/models/yolo-v8/load")
        assert missing.status_code == 409 and "yolov8n.pt" in missing.json()["error"]["message"]


def test_uvicorn_runs_the_module_app(base_env, tmp_path, running):
    def command(port: int) -> list[str]:
        return [str(BIN / "uvicorn"), "altlas.main:app", "--host", "127.0.0.1", "--port", str(port)]

    with running(command, base_env) as client:
        models = client.get("/api/models/").json()["models"]
        assert "all-minilm-l6-v2" in {m["id"] for m in models}


def test_cli_lists_plugins_and_models(base_env):
    env = {**os.environ, **base_env}
    plugins = subprocess.run(
        [str(BIN / "altlas"), "plugins"], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert "onnx  (altlas-onnx 0.1.0)" in plugins
    models = subprocess.run(
        [str(BIN / "altlas"), "models"], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert "all-minilm-l6-v2" in models and "weights_missing" in models


def test_cli_reports_a_broken_plugin(base_env, installed_fixture_plugins):
    env = {**os.environ, **base_env, "PYTHONPATH": str(installed_fixture_plugins)}
    result = subprocess.run(
        [str(BIN / "altlas"), "plugins"], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 1, "a failed plugin makes `altlas plugins` fail"
    assert "fixture-echo  (altlas-fixture-echo 1.0.0)" in result.stdout
    assert (
        "FAILED fixture-broken  (altlas-fixture-broken): "
        "RuntimeError: fixture plugin failed on purpose" in result.stdout
    )
