"""altlas-llama-cpp passes the SDK's conformance suite: the real SmolLM2 for chat and
text generation, and an embedding entry on the tiny random GGUF."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from altlas_llama_cpp.testing import write_tiny_gguf
from altlas_sdk import ModelSpec
from altlas_sdk.tasks import ChatOutput, EmbeddingOutput, TextGenerationOutput
from altlas_sdk.testing import BackendConformance

HEAVY = ("llama_cpp", "numpy")
SMOLLM2 = "smollm2-135m-instruct"
# Greedy SmolLM2 without a system prompt loops on this question until max_tokens: a run
# that lasts long enough to be cancelled while it works.
LOOPING = [{"role": "user", "content": "What is the capital of France?"}]


class TestSmolLM2Chat(BackendConformance):
    plugin = "llama-cpp"
    model_id = SMOLLM2
    task = "chat"
    valid_inputs: ClassVar[Any] = [
        {"role": "system", "content": "You are a helpful assistant. Answer in one short sentence."},
        {"role": "user", "content": "What is the capital of France?"},
    ]
    valid_parameters: ClassVar[dict[str, Any]] = {"temperature": 0, "max_tokens": 20}
    # A conversation far longer than the entry's 2048-token context.
    bad_inputs: ClassVar[Any] = [{"role": "user", "content": "word " * 3000}]
    slow_inputs: ClassVar[Any] = LOOPING
    slow_parameters: ClassVar[dict[str, Any]] = {"temperature": 0, "max_tokens": 1500}
    heavy_modules = HEAVY

    def check_output(self, output: ChatOutput) -> None:
        assert "Paris" in output.message.content
        assert output.usage.completion_tokens > 0


class TestSmolLM2TextGeneration(BackendConformance):
    plugin = "llama-cpp"
    model_id = SMOLLM2
    task = "text-generation"
    valid_inputs: ClassVar[Any] = "The capital of France is"
    valid_parameters: ClassVar[dict[str, Any]] = {"temperature": 0, "max_tokens": 5, "raw": True}
    bad_inputs: ClassVar[Any] = "word " * 3000
    slow_inputs: ClassVar[Any] = "What is the capital of France?"
    slow_parameters: ClassVar[dict[str, Any]] = {"temperature": 0, "max_tokens": 1500}
    heavy_modules = HEAVY

    def check_output(self, output: TextGenerationOutput) -> None:
        assert "Paris" in output.text and output.usage.completion_tokens <= 5


class TestTinyEmbeddings(BackendConformance):
    plugin = "llama-cpp"
    model_id = "tiny-embed"
    valid_inputs: ClassVar[Any] = ["the cat", "the dog"]
    bad_inputs: ClassVar[Any] = ["the cat " * 400]
    bad_parameters: ClassVar[dict[str, Any]] = {"truncate": False}
    heavy_modules = HEAVY

    def model_spec(self, model_dir: Path) -> ModelSpec:
        write_tiny_gguf(model_dir / "tiny.gguf")
        return ModelSpec(
            id="tiny-embed",
            backend="llama-cpp",
            tasks=["embedding"],
            source="tiny.gguf",
            options={"n_ctx": 256, "n_batch": 128},
        )

    def check_output(self, output: EmbeddingOutput) -> None:
        assert output.dimensions == 64 and len(output.embeddings) == 2
