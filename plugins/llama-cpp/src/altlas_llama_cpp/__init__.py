"""altlas plugin: GGUF models through llama.cpp (text generation, chat, embeddings).

Importing this package imports neither llama_cpp nor numpy: they load when a model does.
"""

from __future__ import annotations

from collections.abc import Callable

from altlas_llama_cpp.backend import LlamaCppBackend
from altlas_llama_cpp.catalog import DEFAULT_MODELS
from altlas_llama_cpp.parts import GGUFPartsSource
from altlas_sdk import Backend, ModelSource, ModelSpec, Services, hookimpl

__version__ = "0.1.0"


@hookimpl
def register_backends(register: Callable[[Backend], None]) -> None:
    register(LlamaCppBackend())


@hookimpl
def register_model_sources(register: Callable[[ModelSource], None]) -> None:
    register(GGUFPartsSource())


@hookimpl
def register_catalog_entries(register: Callable[[ModelSpec], None]) -> None:
    for spec in DEFAULT_MODELS:
        register(spec)


@hookimpl
def register_facades(register: Callable[[str, Callable[[Services], object]], None]) -> None:
    from altlas_llama_cpp.adapter import LlamaCppAdapter

    register("llama_cpp_adapter", LlamaCppAdapter)
