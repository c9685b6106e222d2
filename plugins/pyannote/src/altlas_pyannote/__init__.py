"""altlas plugin: speaker diarization with pyannote.audio pipelines (weights you supply).

Importing this package imports neither pyannote.audio, torch nor numpy: they load when
a pipeline does.
"""

from __future__ import annotations

from collections.abc import Callable

from altlas_pyannote.backend import PyannoteBackend
from altlas_pyannote.catalog import DEFAULT_MODELS
from altlas_pyannote.source import PyannoteSource
from altlas_sdk import Backend, ModelSource, ModelSpec, hookimpl

__version__ = "0.1.0"


@hookimpl
def register_backends(register: Callable[[Backend], None]) -> None:
    register(PyannoteBackend())


@hookimpl
def register_model_sources(register: Callable[[ModelSource], None]) -> None:
    register(PyannoteSource())


@hookimpl
def register_catalog_entries(register: Callable[[ModelSpec], None]) -> None:
    for spec in DEFAULT_MODELS:
        register(spec)
