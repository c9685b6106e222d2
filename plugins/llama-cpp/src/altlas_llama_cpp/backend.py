"""The ``llama-cpp`` backend: GGUF models through llama-cpp-python."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from altlas_llama_cpp.engine import BatchEngine
from altlas_llama_cpp.gguf_info import GGUFInfo, read_gguf_info
from altlas_llama_cpp.model import LlamaCppModel
from altlas_llama_cpp.options import (
    LoadOptions,
    context_length,
    estimate,
    gpu_layers,
    parse_options,
    split_memory,
)
from altlas_sdk import (
    Backend,
    Device,
    DevicePolicy,
    LoadedModel,
    MemoryEstimate,
    ModelFiles,
    ModelSpec,
)
from altlas_sdk.errors import BackendUnavailable, InvalidModelFile, WeightsMissing
from altlas_sdk.tasks import CHAT, EMBEDDING, TEXT_GENERATION

logger = logging.getLogger(__name__)

# llama.cpp's pooling type ids (llama_cpp.LLAMA_POOLING_TYPE_*), by option name.
_POOLING = {"mean": 1, "cls": 2, "last": 3}
# The context llama_cpp.Llama insists on creating beside the engine's: as small as
# llama.cpp allows, and freed as soon as the engine has its own.
_PLACEHOLDER_CTX = 256


def _import_llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError:
        raise BackendUnavailable(
            "llama-cpp-python is not installed: run scripts/wheelhouse.sh and "
            "pip install --find-links <its folder> 'altlas-llama-cpp[cpu]' "
            "(plugins/llama-cpp/README.md)"
        ) from None
    return llama_cpp


class LlamaCppBackend(Backend):
    """llama.cpp. Concurrent generation calls to one model decode together, one
    sequence each (``max_concurrency`` of them; the core queues the rest); embeddings
    run one call at a time on a context of their own."""

    name = "llama-cpp"
    tasks = (TEXT_GENERATION, CHAT, EMBEDDING)
    #: Sequences decoded together, as llama.cpp's server defaults to (-np 4).
    max_concurrency = 4
    file_suffixes = (".gguf",)

    def estimate_memory(self, spec: ModelSpec, files: ModelFiles) -> MemoryEstimate:
        options = parse_options(spec.id, spec.options)
        path = _gguf_path(files)
        sequences = spec.max_concurrency or self.max_concurrency
        return estimate(read_gguf_info(path), path.stat().st_size, options, sequences=sequences)

    def load(self, spec: ModelSpec, files: ModelFiles, policy: DevicePolicy) -> LoadedModel:
        options = parse_options(spec.id, spec.options)
        path = _gguf_path(files)
        info = read_gguf_info(path)
        llama_cpp = _import_llama_cpp()
        size = path.stat().st_size
        offloaded = gpu_layers(
            options, policy, info, size, can_offload=bool(llama_cpp.llama_supports_gpu_offload())
        )
        generates = any(task in spec.tasks for task in (TEXT_GENERATION, CHAT))
        embeds = EMBEDDING in spec.tasks
        sequences = spec.max_concurrency or self.max_concurrency
        engine = (
            _engine(llama_cpp, path, options, info, offloaded, sequences) if generates else None
        )
        embedder = (
            _open(llama_cpp, path, options, info, offloaded, embedding=True) if embeds else None
        )
        device = Device("cuda") if offloaded > 0 else Device("cpu")
        logger.info(
            "loaded %s: %d of %d layers on the GPU, n_ctx %d",
            path.name,
            offloaded,
            info.n_layer + 1,
            context_length(options, info),
        )
        return LlamaCppModel(
            engine=engine,
            embedder=embedder,
            chat_template=options.chat_template,
            templated_prompts=options.prompt_template == "chat",
            device=device,
            memory=split_memory(info, size, options, offloaded, sequences=sequences),
            version=files.fingerprint,
        )


def _gguf_path(files: ModelFiles) -> Path:
    path = files.path
    if path.is_dir():
        found = sorted(path.glob("*.gguf"))
        if len(found) != 1:
            raise WeightsMissing(
                f"'{path}' is a folder with {len(found)} .gguf files; name one file as the "
                "entry's source"
            )
        path = found[0]
    return path


def _engine(
    llama_cpp: Any,
    path: Path,
    options: LoadOptions,
    info: GGUFInfo,
    offloaded: int,
    sequences: int,
) -> BatchEngine:
    """The model's weights (through a ``Llama``, for its tokenizer and metadata) and a
    batching engine with ``sequences`` sequences of the entry's context length."""
    llama = _open(llama_cpp, path, options, info, offloaded, n_ctx=_PLACEHOLDER_CTX)
    try:
        engine = BatchEngine(
            llama,
            parallel=sequences,
            n_ctx=context_length(options, info),
            n_batch=options.n_batch,
            prompt_cache=options.prompt_cache,
        )
    except (ValueError, RuntimeError) as error:
        llama.close()
        raise InvalidModelFile(f"llama.cpp cannot create a context for '{path}': {error}") from None
    # The placeholder: the engine has its own.
    llama._ctx.close()
    return engine


def _open(
    llama_cpp: Any,
    path: Path,
    options: LoadOptions,
    info: GGUFInfo,
    offloaded: int,
    *,
    embedding: bool = False,
    n_ctx: int | None = None,
) -> Any:
    n_ctx = n_ctx or context_length(options, info)
    kwargs: dict[str, Any] = {
        "model_path": str(path),
        "n_ctx": n_ctx,
        "n_batch": min(options.n_batch, n_ctx),
        "n_ubatch": min(options.n_batch, n_ctx),
        "n_threads": options.n_threads,
        "n_threads_batch": options.n_threads_batch or options.n_threads,
        "n_gpu_layers": offloaded,
        "use_mmap": options.mmap,
        "use_mlock": options.mlock,
        "flash_attn": options.flash_attn,
        "verbose": options.verbose,
    }
    if embedding:
        kwargs["embedding"] = True
        # A causal LM's file names no pooling: mean-pool its token vectors.
        pooling = options.pooling or ("mean" if info.pooling_type in (None, 0) else None)
        if pooling is not None:
            kwargs["pooling_type"] = _POOLING[pooling]
    try:
        return llama_cpp.Llama(**kwargs)
    except (ValueError, RuntimeError) as error:
        raise InvalidModelFile(f"llama.cpp cannot load '{path}': {error}") from None
