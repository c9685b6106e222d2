"""The design document's in-process adapter, ``get_llama_cpp_adapter()``, on the real
SmolLM2 and on the tiny GGUF, through the runtime's real manager and inference service."""

from __future__ import annotations

import asyncio

import pytest

import altlas
from altlas_llama_cpp.adapter import LlamaCppAdapter
from altlas_sdk import InferenceRequest
from altlas_sdk.errors import Conflict, ValidationFailed
from altlas_sdk.tasks import ChatOutput, TextGenerationOutput
from altlas_sdk.testing.service import default_runtime

MODEL = "smollm2-135m-instruct"


def run(runtime, work):
    async def main():
        await runtime.start()
        try:
            return await work(runtime.facade("llama_cpp_adapter"))
        finally:
            await runtime.stop()

    return asyncio.run(main())


def test_facade_is_registered_and_generates(tmp_path, runtime_for):
    runtime = runtime_for(tmp_path)

    async def work(adapter):
        assert isinstance(adapter, LlamaCppAdapter)
        with default_runtime(runtime):
            assert altlas.get_llama_cpp_adapter() is adapter
        assert MODEL in {info.id for info in adapter.list_models()}
        status = await adapter.load_model(MODEL, {"n_threads": 2})
        assert status.state == "loaded" and status.device == "cpu"
        response = await adapter.generate(
            model_id=MODEL,
            request=InferenceRequest(
                inputs="What is the capital of France?",
                parameters={"max_tokens": 100, "temperature": 0.7},
            ),
        )
        assert isinstance(response.outputs, TextGenerationOutput) and response.outputs.text
        chat = await adapter.generate(
            MODEL,
            inputs=[
                {
                    "role": "system",
                    "content": "You are a helpful assistant. Answer in one short sentence.",
                },
                {"role": "user", "content": "What is the capital of France?"},
            ],
            parameters={"temperature": 0},
        )
        assert isinstance(chat.outputs, ChatOutput) and "Paris" in chat.outputs.message.content
        chunks = [
            chunk
            async for chunk in adapter.stream(
                MODEL,
                inputs=[{"role": "user", "content": "Hi"}],
                parameters={"max_tokens": 8, "temperature": 0},
            )
        ]
        assert chunks[-1].finish_reason == "length" and chunks[-1].usage.completion_tokens == 8
        assert "".join(c.message.content for c in chunks).strip()
        return runtime.catalog.get(MODEL).spec.options

    options = run(runtime, work)
    assert options["n_threads"] == 2 and options["prompt_template"] == "chat"


def test_load_options_conflict_with_a_loaded_model(tmp_path, runtime_for, tiny_gguf):
    config = f"""
[models.tiny]
backend = "llama-cpp"
tasks = ["text-generation", "chat"]
source = "{tiny_gguf}"
options = {{ n_ctx = 64 }}
"""
    runtime = runtime_for(tmp_path, config)

    async def work(adapter):
        await adapter.load_model("tiny", {"n_ctx": 128})
        assert runtime.models.loaded_model("tiny").engine.n_ctx == 128
        with pytest.raises(Conflict, match="unload it first"):
            await adapter.load_model("tiny", {"n_ctx": 64})
        # The same options again is fine.
        assert (await adapter.load_model("tiny", {"n_ctx": 128})).state == "loaded"
        await adapter.unload_model("tiny")
        await adapter.load_model("tiny", {"n_ctx": 64})
        assert runtime.models.loaded_model("tiny").engine.n_ctx == 64
        with pytest.raises(Conflict, match="n_ctxx"):
            await adapter.load_model("tiny", {"n_ctxx": 1})
        with pytest.raises(ValidationFailed, match="backend 'onnx'"):
            await adapter.load_model("all-minilm-l6-v2")
        response = await adapter.generate("tiny", inputs="the cat", parameters={"max_tokens": 3})
        assert response.outputs.usage.completion_tokens == 3

    run(runtime, work)
