"""The default response cache on real models, through a real uvicorn server: the real
all-MiniLM-L6-v2 (and paraphrase-MiniLM-L3-v2 as "new weights"), and the real
SmolLM2-135M-Instruct for sampling."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from altlas.config import Settings
from altlas.http.app import create_app
from altlas.runtime import Runtime
from altlas_sdk.testing.server import serving

MINILM = "all-minilm-l6-v2"
L3 = "paraphrase-minilm-l3-v2"
SMOLLM = "smollm2-135m-instruct"
TEXTS = ["A cat sits on the mat.", "Stock markets fell sharply today."]


def make_runtime(root: Path, config: str = "", **environ: str) -> Runtime:
    (root / "models").mkdir(parents=True, exist_ok=True)
    config_path = None
    if config:
        config_path = root / "altlas.toml"
        config_path.write_text(config)
    env = {
        "MODEL_DIR": str(root / "models"),
        "CACHE_DIR": str(root / "cache"),
        "ALTLAS_LOAD_PLUGINS": "onnx,llama-cpp",
        "USE_GPU": "false",
        "LOG_LEVEL": "WARNING",
        **environ,
    }
    return Runtime(Settings.load(environ=env, config_path=config_path))


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A MODEL_DIR holding a copy of MiniLM's files, as the entry ``swap-encoder``."""
    root = tmp_path_factory.mktemp("cache-api")
    probe = make_runtime(root / "probe")
    minilm = probe.resolver.fetch(probe.catalog.get(MINILM).spec)
    swap = root / "models" / "swap"
    swap.mkdir(parents=True)
    shutil.copy(minilm.path, swap / "model.onnx")
    shutil.copy(minilm.extra["tokenizer"], swap / "tokenizer.json")
    return root


SWAP_ENTRY = """
[models.swap-encoder]
backend = "onnx"
tasks = ["embedding"]
source = "swap/model.onnx"
files = { tokenizer = "swap/tokenizer.json" }
options = { pooling = "mean", max_length = 128 }
"""


@pytest.fixture(scope="module")
def server(root: Path) -> Iterator[tuple[httpx.Client, Runtime]]:
    runtime = make_runtime(root, SWAP_ENTRY)
    with serving(create_app(runtime)) as url, httpx.Client(base_url=url, timeout=120) as client:
        assert client.post(f"/api/models/{MINILM}/load").status_code == 200
        yield client, runtime


def embed(client: httpx.Client, model: str = MINILM, **extra: object) -> dict:
    body = {"model_id": model, "inputs": TEXTS, **extra}
    response = client.post("/api/inference/", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_hit_returns_the_same_output_without_running_the_model(server) -> None:
    client, _ = server
    miss = embed(client, parameters={"normalize": True})
    hit = embed(client, parameters={"normalize": True})
    assert (miss["from_cache"], hit["from_cache"]) == (False, True)
    assert hit["outputs"] == miss["outputs"]
    assert len(hit["outputs"]["embeddings"]) == 2
    assert len(hit["outputs"]["embeddings"][0]) == 384
    assert hit["timing"]["inference_ms"] == hit["timing"]["queue_ms"] == 0
    # A parameter that changes the output is part of the key.
    other = embed(client, parameters={"normalize": False})
    assert other["from_cache"] is False and other["outputs"] != miss["outputs"]


def test_cache_false_runs_the_model_every_time(server) -> None:
    client, _ = server
    stored = embed(client, parameters={"truncate": True})
    bypassed = [embed(client, parameters={"truncate": True}, cache=False) for _ in range(2)]
    assert [answer["from_cache"] for answer in bypassed] == [False, False]
    assert all(answer["timing"]["inference_ms"] > 0 for answer in bypassed)
    assert np.allclose(
        bypassed[0]["outputs"]["embeddings"], stored["outputs"]["embeddings"], atol=1e-5
    )


def test_a_reload_with_new_weights_never_serves_old_entries(server, root: Path) -> None:
    client, runtime = server
    before = embed(client, "swap-encoder")
    assert embed(client, "swap-encoder")["from_cache"] is True
    assert client.post("/api/models/swap-encoder/unload").status_code == 200
    # New weights at the same path: paraphrase-MiniLM-L3-v2 in place of all-MiniLM-L6-v2.
    l3 = runtime.resolver.fetch(runtime.catalog.get(L3).spec)
    shutil.copy(l3.path, root / "models" / "swap" / "model.onnx")
    after = embed(client, "swap-encoder")
    assert after["from_cache"] is False
    assert after["outputs"]["embeddings"] != before["outputs"]["embeddings"]
    # The new model's own answer, now cached in its turn.
    again = embed(client, "swap-encoder")
    assert again["from_cache"] is True and again["outputs"] == after["outputs"]


def generate(client: httpx.Client, **parameters: object) -> dict:
    cache = parameters.pop("cache", None)
    body = {
        "model_id": SMOLLM,
        "task": "text-generation",
        "inputs": "The capital of France is",
        "parameters": {"max_tokens": 8, **parameters},
        "cache": cache,
    }
    response = client.post("/api/inference/", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_sampling_is_cached_only_with_a_seed_greedy_or_when_asked(server) -> None:
    client, _ = server
    sampled = [generate(client, temperature=0.9) for _ in range(2)]
    assert [answer["from_cache"] for answer in sampled] == [False, False]
    for parameters in ({"temperature": 0.9, "seed": 7}, {"temperature": 0}):
        first, second = generate(client, **parameters), generate(client, **parameters)
        assert (first["from_cache"], second["from_cache"]) == (False, True)
        assert second["outputs"] == first["outputs"]
    asked = [generate(client, temperature=1.1, cache=True) for _ in range(2)]
    assert [answer["from_cache"] for answer in asked] == [False, True]
    assert asked[1]["outputs"] == asked[0]["outputs"]


def test_ttl_and_the_byte_bound_on_the_real_model(tmp_path: Path) -> None:
    # A TTL of seconds: each hit below comes one request after its store, well within it
    # on a busy machine too.
    runtime = make_runtime(tmp_path, RESPONSE_CACHE_MEMORY_MB="1", RESPONSE_CACHE_TTL="3")
    # 60 texts a request: each answer (384 floats per text, as JSON) is about 0.5 MB.
    batches = [[f"sentence {n} of batch {b}" for n in range(60)] for b in range(3)]
    with serving(create_app(runtime)) as url, httpx.Client(base_url=url, timeout=120) as client:

        def run(texts: list[str]) -> bool:
            response = client.post("/api/inference/", json={"model_id": MINILM, "inputs": texts})
            assert response.status_code == 200, response.text
            return response.json()["from_cache"]

        assert run(batches[0]) is False
        assert run(batches[0]) is True
        time.sleep(3.1)
        assert run(batches[0]) is False  # expired
        for texts in batches[1:]:
            assert run(texts) is False
        # 1 MB holds two of them: the oldest went, the newest is served.
        assert run(batches[2]) is True
        metrics = client.get("/metrics").text
    assert 'altlas_response_cache_evictions_total{cache="memory"} 1' in metrics
