"""A model's load options (the catalog entry's ``options``) and where its layers go."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct

from altlas_llama_cpp.gguf_info import GGUFInfo
from altlas_sdk import DevicePolicy, MemoryEstimate
from altlas_sdk.errors import Conflict

#: Context length used when the entry sets none: the model's own, capped so that a
#: long-context model does not reserve gigabytes of KV cache by default.
DEFAULT_MAX_CTX = 4096
_MB = 1024 * 1024
_AT = re.compile(r" - at `\$([^`]*)`")
_UNKNOWN = re.compile(r"unknown field `([^`]*)`")
# Bytes per cached K or V element: llama.cpp keeps the KV cache in f16 by default.
_KV_ELEMENT_BYTES = 2
# llama.cpp's compute buffers and the sampler's candidate array, beyond weights and KV
# cache: measured about 40 MB for SmolLM2-135M at n_batch 512; scaled by width/vocab.
_OVERHEAD_BASE = 16 * _MB


class LoadOptions(Struct, kw_only=True, forbid_unknown_fields=True):
    """What a catalog entry's ``options`` may set for the ``llama-cpp`` backend.

    - ``n_ctx``: context length in tokens (default: the model's, at most 4096).
    - ``n_threads`` / ``n_threads_batch``: CPU threads for generation / prompt
      processing (default: llama-cpp-python's choice).
    - ``n_batch``: prompt tokens evaluated per step.
    - ``n_gpu_layers``: layers offloaded to the GPU (-1: all); applied only when
      USE_GPU allows it and the build can offload, and capped by GPU_MEMORY_LIMIT.
    - ``mmap`` / ``mlock``: map the file instead of reading it / pin it in RAM.
    - ``chat_template``: a Jinja chat template that replaces the file's own.
    - ``prompt_template``: ``"chat"`` sends a ``text-generation`` prompt as one user turn
      through the chat template (for instruct models, as Ollama's generate does), unless
      the request sets ``raw``; ``"none"`` (default) continues the prompt as is.
    - ``pooling``: how embeddings pool token vectors: ``mean``, ``cls`` or ``last``
      (default: the model's own, mean for a model that names none).
    - ``flash_attn``: llama.cpp's flash attention.
    - ``prompt_cache``: a new request reuses the KV state of the longest prefix it shares
      with what a free sequence last held (chat turns, a fixed system prompt); the state
      lives in the sequences' own KV cache, so it takes no memory beyond it.
    - ``verbose``: llama.cpp's own logging to stderr.
    """

    n_ctx: Annotated[int, Meta(ge=16)] | None = None
    n_threads: Annotated[int, Meta(ge=1)] | None = None
    n_threads_batch: Annotated[int, Meta(ge=1)] | None = None
    n_batch: Annotated[int, Meta(ge=1)] = 512
    n_gpu_layers: Annotated[int, Meta(ge=-1)] = -1
    mmap: bool = True
    mlock: bool = False
    chat_template: str | None = None
    prompt_template: Literal["none", "chat"] = "none"
    pooling: Literal["mean", "cls", "last"] | None = None
    flash_attn: bool = False
    prompt_cache: bool = True
    verbose: bool = False


def parse_options(model_id: str, options: dict[str, Any]) -> LoadOptions:
    """Validate an entry's options; a typo is a 409 naming the field."""
    try:
        return msgspec.convert(options, LoadOptions)
    except msgspec.ValidationError as error:
        where = _AT.search(str(error))
        unknown = _UNKNOWN.search(str(error))
        path = "$.options" + (where.group(1) if where else "")
        raise Conflict(
            f"model '{model_id}': invalid llama-cpp option in its catalog entry: {error}",
            param=f"{path}.{unknown.group(1)}" if unknown else path,
            code="invalid_options",
        ) from None


def context_length(options: LoadOptions, info: GGUFInfo) -> int:
    """The context the model will get."""
    if options.n_ctx is not None:
        return options.n_ctx
    return min(info.context_length or DEFAULT_MAX_CTX, DEFAULT_MAX_CTX)


def kv_cache_bytes(info: GGUFInfo, n_ctx: int) -> int:
    """The KV cache for ``n_ctx`` tokens (f16, every layer)."""
    per_token = info.n_head_kv * (info.key_length + info.value_length) * _KV_ELEMENT_BYTES
    return info.n_layer * n_ctx * per_token


def estimate(
    info: GGUFInfo, file_bytes: int, options: LoadOptions, *, sequences: int = 1
) -> MemoryEstimate:
    """RAM the model takes on CPU: weights (mapped or read, they end up resident), one
    context's compute buffers, and a KV cache of ``n_ctx`` tokens per sequence."""
    n_ctx = context_length(options, info)
    overhead = _OVERHEAD_BASE + 4 * info.n_vocab * 64 + 4 * info.n_embd * options.n_batch * 8
    return MemoryEstimate(ram_bytes=file_bytes + sequences * kv_cache_bytes(info, n_ctx) + overhead)


def gpu_layers(
    options: LoadOptions,
    policy: DevicePolicy,
    info: GGUFInfo,
    file_bytes: int,
    *,
    can_offload: bool,
) -> int:
    """How many layers to offload: none unless USE_GPU and a GPU build allow it; the
    entry's ``n_gpu_layers`` (all by default); no more than GPU_MEMORY_LIMIT holds."""
    if not policy.use_gpu or not can_offload or options.n_gpu_layers == 0:
        return 0
    # llama.cpp counts the output layer as one more layer.
    total = info.n_layer + 1
    wanted = total if options.n_gpu_layers < 0 else min(options.n_gpu_layers, total)
    if policy.gpu_memory_limit_mb is not None:
        per_layer = (file_bytes + kv_cache_bytes(info, context_length(options, info))) / total
        wanted = min(wanted, int(policy.gpu_memory_limit_mb * _MB // max(per_layer, 1)))
    return max(wanted, 0)


def split_memory(
    info: GGUFInfo, file_bytes: int, options: LoadOptions, offloaded: int, *, sequences: int = 1
) -> MemoryEstimate:
    """The estimate with ``offloaded`` of the model's layers on the GPU."""
    total = estimate(info, file_bytes, options, sequences=sequences)
    if offloaded <= 0:
        return total
    share = min(offloaded / (info.n_layer + 1), 1.0)
    kv = sequences * kv_cache_bytes(info, context_length(options, info))
    on_gpu = int(share * (file_bytes + kv))
    return MemoryEstimate(ram_bytes=total.ram_bytes - on_gpu, gpu_bytes=on_gpu)
