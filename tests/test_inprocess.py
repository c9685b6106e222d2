"""The design document's in-process API on the real MiniLM model."""

from __future__ import annotations

import asyncio

import pytest

from altlas import InferenceRequest, get_inference_service, get_model_manager
from altlas.runtime import set_runtime


@pytest.fixture
def default_runtime(make_runtime):
    runtime = make_runtime()
    set_runtime(runtime)
    yield runtime
    set_runtime(None)


def test_model_manager_and_inference_service(default_runtime):
    async def scenario():
        status = await get_model_manager().load_model("all-minilm-l6-v2")
        response = await get_inference_service().run_inference(
            InferenceRequest(
                model_id="all-minilm-l6-v2",
                inputs=["The cat sleeps.", "A kitten naps.", "Stock markets fell."],
            )
        )
        await default_runtime.stop()
        return status, response

    status, response = asyncio.run(scenario())
    assert status.state == "loaded"
    assert response.task == "embedding" and response.from_cache is False
    vectors = response.outputs.embeddings
    similarity = [
        sum(a * b for a, b in zip(vectors[0], other, strict=False)) for other in vectors[1:]
    ]
    assert similarity[0] > similarity[1] + 0.2
