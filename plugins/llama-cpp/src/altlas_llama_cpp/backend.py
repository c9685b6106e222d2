"""The ``llama-cpp`` backend: GGUF models through llama-cpp-python."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

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
    """llama.cpp. A context is not thread-safe, so one call per model at a time; the
    core queues the others."""

    name = "llama-cpp"
    tasks = (TEXT_GENERATION, CHAT, EMBEDDING)
    max_concurrency = 1
    file_suffixes = (".gguf",)

    def estimate_memory(self, spec: ModelSpec, files: ModelFiles) -> MemoryEstimate:
        options = parse_options(spec.id, spec.options)
        path = _gguf_path(files)
        contexts = spec.max_concurrency or self.max_concurrency
        return estimate(read_gguf_info(path), path.stat().st_size, options, contexts=contexts)

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
        contexts = spec.max_concurrency or self.max_concurrency
        generators = [
            _open(llama_cpp, path, options, info, offloaded)
            for _ in range(contexts if generates else 0)
        ]
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
            generators=generators,
            embedder=embedder,
            chat_template=options.chat_template,
            templated_prompts=options.prompt_template == "chat",
            device=device,
            memory=split_memory(info, size, options, offloaded, contexts=contexts),
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


def _open(
    llama_cpp: Any,
    path: Path,
    options: LoadOptions,
    info: GGUFInfo,
    offloaded: int,
    *,
    embedding: bool = False,
) -> Any:
    kwargs: dict[str, Any] = {
        "model_path": str(path),
        "n_ctx": context_length(options, info),
        "n_batch": options.n_batch,
        "n_ubatch": options.n_batch,
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
