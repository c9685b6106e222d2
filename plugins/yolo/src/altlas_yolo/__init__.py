"""altlas plugin: Ultralytics YOLO models for object detection (with pose keypoints),
instance segmentation and image classification.

Importing this package imports neither torch nor ultralytics: they load when a model
does, after the settings that keep Ultralytics offline are in place.
"""

from __future__ import annotations

from collections.abc import Callable

from altlas_sdk import Backend, ModelSpec, hookimpl
from altlas_yolo.backend import YoloBackend
from altlas_yolo.catalog import DEFAULT_MODELS

__version__ = "0.1.0"


@hookimpl
def register_backends(register: Callable[[Backend], None]) -> None:
    register(YoloBackend())


@hookimpl
def register_catalog_entries(register: Callable[[ModelSpec], None]) -> None:
    for spec in DEFAULT_MODELS:
        register(spec)
