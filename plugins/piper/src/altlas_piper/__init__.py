"""altlas plugin: text-to-speech with Piper voices.

Importing this package imports neither piper, onnxruntime nor numpy: they load when a
voice does.
"""

from __future__ import annotations

from collections.abc import Callable

from altlas_piper.backend import PiperBackend
from altlas_piper.catalog import DEFAULT_MODELS
from altlas_sdk import Backend, ModelSpec, hookimpl

__version__ = "0.1.0"


@hookimpl
def register_backends(register: Callable[[Backend], None]) -> None:
    register(PiperBackend())


@hookimpl
def register_catalog_entries(register: Callable[[ModelSpec], None]) -> None:
    for spec in DEFAULT_MODELS:
        register(spec)
