"""altlas plugin: OCR with EasyOCR.

Importing this package imports neither easyocr nor torch: they load when a model does.
"""

from __future__ import annotations

from collections.abc import Callable

from altlas_easyocr.backend import EasyOcrBackend
from altlas_easyocr.catalog import DEFAULT_MODELS
from altlas_sdk import Backend, ModelSpec, hookimpl

__version__ = "0.1.0"


@hookimpl
def register_backends(register: Callable[[Backend], None]) -> None:
    register(EasyOcrBackend())


@hookimpl
def register_catalog_entries(register: Callable[[ModelSpec], None]) -> None:
    for spec in DEFAULT_MODELS:
        register(spec)
