"""altlas plugin: offline speaker diarization (Silero VAD, Resemblyzer, clustering).

Importing this package imports neither torch, faster-whisper, scipy nor numpy: they load
when the model does.
"""

from __future__ import annotations

from collections.abc import Callable

from altlas_resemblyzer.backend import ResemblyzerBackend
from altlas_resemblyzer.catalog import DEFAULT_MODELS
from altlas_sdk import Backend, ModelSpec, hookimpl

__version__ = "0.1.0"


@hookimpl
def register_backends(register: Callable[[Backend], None]) -> None:
    register(ResemblyzerBackend())


@hookimpl
def register_catalog_entries(register: Callable[[ModelSpec], None]) -> None:
    for spec in DEFAULT_MODELS:
        register(spec)
