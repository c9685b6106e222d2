"""altlas plugin: OCR with RapidOCR, PaddleOCR's PP-OCR models on ONNX Runtime.

Importing this package imports neither rapidocr, onnxruntime nor numpy: they load when
a model does.
"""

from __future__ import annotations

from collections.abc import Callable

from altlas_rapidocr.backend import RapidOcrBackend
from altlas_rapidocr.catalog import DEFAULT_MODELS
from altlas_sdk import Backend, ModelSpec, hookimpl

__version__ = "0.1.0"


@hookimpl
def register_backends(register: Callable[[Backend], None]) -> None:
    register(RapidOcrBackend())


@hookimpl
def register_catalog_entries(register: Callable[[ModelSpec], None]) -> None:
    for spec in DEFAULT_MODELS:
        register(spec)
