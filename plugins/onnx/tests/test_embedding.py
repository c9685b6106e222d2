"""The real all-MiniLM-L6-v2 (int8 ONNX) through the backend and the HTTP API."""

from __future__ import annotations

import numpy as np
import pytest

from altlas_onnx.backend import OnnxBackend
from altlas_onnx.catalog import MINILM_L6
from altlas_sdk import CancellationToken
from altlas_sdk.errors import AltlasError, Cancelled
from altlas_sdk.tasks import EmbeddingInput, EmbeddingOutput, EmbeddingParameters
from altlas_sdk.testing.service import loaded_model


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    with loaded_model(OnnxBackend(), MINILM_L6, tmp_path_factory.mktemp("onnx")) as loaded:
        yield loaded


def embed(model, texts, **parameters):
    output = model.infer(
        "embedding",
        EmbeddingInput(texts=texts),
        EmbeddingParameters(**parameters),
        CancellationToken(),
    )
    assert isinstance(output, EmbeddingOutput)
    return np.array(output.embeddings), output


def test_related_sentences_are_closer_than_unrelated(model):
    vectors, output = embed(
        model,
        ["cat", "kitten", "stocks", "A man is playing guitar.", "Someone plays an instrument."],
    )
    assert output.dimensions == 384 and vectors.shape == (5, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cos = vectors @ vectors.T
    assert cos[0, 1] > cos[0, 2] + 0.3
    assert cos[3, 4] > cos[3, 2] + 0.3
    assert output.usage.prompt_tokens > 5


def test_batching_matches_one_by_one(model):
    texts = ["short", "a somewhat longer sentence about embeddings", "third"]
    together, _ = embed(model, texts)
    alone = np.vstack([embed(model, [text])[0] for text in texts])
    assert np.allclose(together, alone, atol=1e-4)


def test_native_batch_one_bad_input_fails_only_itself(model):
    long_text = "word " * 400
    results = model.infer_batch(
        "embedding",
        [
            EmbeddingInput(texts=["fine"]),
            EmbeddingInput(texts=["ok", long_text]),
            EmbeddingInput(texts=["also fine"]),
        ],
        EmbeddingParameters(truncate=False),
        CancellationToken(),
    )
    assert isinstance(results[0], EmbeddingOutput) and isinstance(results[2], EmbeddingOutput)
    assert isinstance(results[1], AltlasError) and results[1].param == "$.inputs.texts[1]"
    assert np.allclose(results[0].embeddings[0], embed(model, ["fine"])[0][0], atol=1e-4)


def test_unnormalized_and_truncated(model):
    vectors, _ = embed(model, ["word " * 400, "cat"], normalize=False)
    assert not np.allclose(np.linalg.norm(vectors, axis=1), 1.0)


def test_cancellation_stops_before_running(model):
    token = CancellationToken()
    token.cancel()
    with pytest.raises(Cancelled):
        model.infer("embedding", EmbeddingInput(texts=["x"]), EmbeddingParameters(), token)


def test_runs_on_cpu_without_gpu_policy(model):
    assert str(model.device) == "cpu"


def test_over_http(make_runtime, serve):
    with serve(make_runtime()) as client:
        response = client.post(
            "/api/inference/",
            json={
                "model_id": "all-minilm-l6-v2",
                "inputs": {"texts": ["a", "b"]},
                "parameters": {"normalize": True},
            },
        )
        assert response.status_code == 200
        assert len(response.json()["outputs"]["embeddings"]) == 2
        bad = client.post(
            "/api/inference/",
            json={
                "model_id": "all-minilm-l6-v2",
                "inputs": "x " * 400,
                "parameters": {"truncate": False},
            },
        )
        assert bad.status_code == 422 and bad.json()["error"]["param"] == "$.inputs.texts[0]"
        empty = client.post("/api/inference/", json={"model_id": "all-minilm-l6-v2", "inputs": []})
        assert empty.status_code == 422 and empty.json()["error"]["param"] == "$.inputs.texts"
