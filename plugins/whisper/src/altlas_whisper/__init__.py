"""altlas plugin: speech-to-text and translation to English with faster-whisper.

Importing this package imports neither faster-whisper, CTranslate2 nor numpy: they load
when a model does.
"""

from __future__ import annotations

from collections.abc import Callable

from altlas_sdk import Backend, ModelSource, ModelSpec, hookimpl
from altlas_whisper.backend import WhisperBackend
from altlas_whisper.catalog import DEFAULT_MODELS
from altlas_whisper.parts import WhisperPartsSource

__version__ = "0.1.0"


@hookimpl
def register_backends(register: Callable[[Backend], None]) -> None:
    register(WhisperBackend())


@hookimpl
def register_model_sources(register: Callable[[ModelSource], None]) -> None:
    register(WhisperPartsSource())


@hookimpl
def register_catalog_entries(register: Callable[[ModelSpec], None]) -> None:
    for spec in DEFAULT_MODELS:
        register(spec)
