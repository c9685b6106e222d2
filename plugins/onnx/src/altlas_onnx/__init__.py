"""altlas plugin: ONNX Runtime models, generic (``tensor``) and sentence ``embedding``.

Importing this package imports neither onnxruntime, numpy nor tokenizers: they load
when a model does.
"""

from __future__ import annotations

from collections.abc import Callable

from altlas_onnx.backend import OnnxBackend
from altlas_onnx.catalog import DEFAULT_MODELS
from altlas_sdk import Backend, ModelSpec, hookimpl

__version__ = "0.1.0"


@hookimpl
def register_backends(register: Callable[[Backend], None]) -> None:
    register(OnnxBackend())


@hookimpl
def register_catalog_entries(register: Callable[[ModelSpec], None]) -> None:
    for spec in DEFAULT_MODELS:
        register(spec)
