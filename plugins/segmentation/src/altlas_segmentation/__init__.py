"""altlas plugin: image segmentation on ONNX Runtime.

Two backends: ``u2net`` (salient-object foreground masks with U^2-Net) and
``onnx-segmentation`` (any semantic-segmentation ONNX model: image in, per-class
scores out). Importing this package imports neither onnxruntime nor numpy.
"""

from __future__ import annotations

from collections.abc import Callable

from altlas_sdk import Backend, ModelSpec, hookimpl
from altlas_segmentation.catalog import DEFAULT_MODELS
from altlas_segmentation.foreground import U2NetBackend
from altlas_segmentation.semantic import OnnxSegmentationBackend

__version__ = "0.1.0"


@hookimpl
def register_backends(register: Callable[[Backend], None]) -> None:
    register(U2NetBackend())
    register(OnnxSegmentationBackend())


@hookimpl
def register_catalog_entries(register: Callable[[ModelSpec], None]) -> None:
    for spec in DEFAULT_MODELS:
        register(spec)
