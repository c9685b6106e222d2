"""The real service: ``altlas serve`` and ``uvicorn altlas.main:app`` as subprocesses,
driven over HTTP with httpx, on the real MiniLM model."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running(command: list[str], env: dict[str, str], port: int) -> Iterator[httpx.Client]:
    process = subprocess.Popen(
        command,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"server did not start:\n{process.stdout.read()}")
            time.sleep(0.1)
        with httpx.Client(base_url=base, timeout=60) as client:
            yield client
    finally:
        process.send_signal(signal.SIGINT)
        try:
            output = process.communicate(timeout=20)[0]
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        assert process.returncode == 0, output


def test_altlas_serve_end_to_end(base_env):
    port = _free_port()
    command = [str(BIN / "altlas"), "serve", "--port", str(port)]
    with running(command, base_env, port) as client:
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


def test_uvicorn_runs_the_module_app(base_env, tmp_path):
    port = _free_port()
    command = [str(BIN / "uvicorn"), "altlas.main:app", "--host", "127.0.0.1", "--port", str(port)]
    with running(command, base_env, port) as client:
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
        [str(BIN / "altlas"), "plugins"], env=env, capture_output=True, text=True, check=True
    )
    assert "fixture-echo  (altlas-fixture-echo 1.0.0)" in result.stdout
    assert (
        "FAILED fixture-broken  (altlas-fixture-broken): "
        "RuntimeError: fixture plugin failed on purpose" in result.stdout
    )
