"""The design document's in-process vision API: ``get_vision_model_manager()``.

::

    vision = get_vision_model_manager()
    await vision.load_model("yolo11n-pose", "yolo")
    result = await vision.detect_objects(image_data=jpeg, model_id="yolo11n-pose", confidence=0.5)
    for detection in result.detections:
        print(detection.label, detection.confidence, detection.box)

A thin layer over the runtime's model manager and inference service, generic over every
plugin serving a vision task: a call is the same request the HTTP routes run (same
model selection, queues, limits and errors), and returns the task's typed output
Struct (:mod:`altlas_sdk.vision.tasks`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from altlas_sdk import ModelSpec
from altlas_sdk.errors import BadRequest, ValidationFailed
from altlas_sdk.tasks import IMAGE_CLASSIFICATION, IMAGE_SEGMENTATION, OBJECT_DETECTION, OCR
from altlas_sdk.vision.tasks import (
    ClassificationOutput,
    DetectionOutput,
    OcrOutput,
    SegmentationOutput,
)
from altlas_sdk.wire import InferenceRequest, ModelStatus

if TYPE_CHECKING:
    from altlas.runtime import Runtime

#: The vision task ids, in the design document's order.
VISION_TASK_IDS = (OBJECT_DETECTION, OCR, IMAGE_CLASSIFICATION, IMAGE_SEGMENTATION)

#: An image: its encoded bytes (JPEG, PNG, WebP, BMP) or the path of such a file.
ImageData = bytes | bytearray | memoryview | str | os.PathLike

_SPEC_FIELDS = frozenset(ModelSpec.__struct_fields__) - {"id"}


class VisionModelManager:
    """Vision models in-process: load and unload them, and run the four vision tasks.

    Every method is a coroutine, to be awaited on the event loop the runtime serves on
    (or under ``asyncio.run`` in a script).
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def list_models(self, task: str | None = None) -> list[ModelSpec]:
        """Catalog entries serving ``task``, or any vision task when omitted."""
        tasks = (task,) if task is not None else VISION_TASK_IDS
        return [
            entry.spec
            for entry in self.runtime.catalog
            if any(name in entry.spec.tasks for name in tasks)
        ]

    async def load_model(
        self,
        model_id: str,
        kind: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> ModelStatus:
        """Load a catalog model; returns once it is loaded.

        ``kind`` is the backend the caller expects (``"yolo"``, ``"rapidocr"``...): a
        model run by another backend is refused rather than silently used. ``config``
        changes the entry before it loads: catalog fields (``source``, ``files``,
        ``options``...) by name, any other key as a backend option.
        """
        entry = self.runtime.catalog.get(model_id)
        if kind is not None and entry.spec.backend != kind:
            raise BadRequest(
                f"model '{model_id}' runs on the '{entry.spec.backend}' backend, not '{kind}'",
                param="kind",
            )
        if config:
            self.runtime.catalog.replace(_configured(entry.spec, config))
        return await self.runtime.models.load_model(model_id)

    async def unload_model(self, model_id: str) -> ModelStatus:
        """Unload a model."""
        return await self.runtime.models.unload_model(model_id)

    async def detect_objects(
        self, image_data: ImageData, model_id: str | None = None, **parameters: Any
    ) -> DetectionOutput:
        """Objects in the image: ``confidence``, ``iou``, ``classes``,
        ``max_detections``, ``image_size``, ``annotate`` as on the HTTP route."""
        return await self._run(OBJECT_DETECTION, image_data, model_id, parameters)

    async def recognize_text(
        self, image_data: ImageData, model_id: str | None = None, **parameters: Any
    ) -> OcrOutput:
        """The text in the image: ``min_confidence``, ``paragraphs``, ``annotate``."""
        return await self._run(OCR, image_data, model_id, parameters)

    async def classify_image(
        self, image_data: ImageData, model_id: str | None = None, **parameters: Any
    ) -> ClassificationOutput:
        """The image's top classes: ``top_k``, ``annotate``."""
        return await self._run(IMAGE_CLASSIFICATION, image_data, model_id, parameters)

    async def segment_image(
        self, image_data: ImageData, model_id: str | None = None, **parameters: Any
    ) -> SegmentationOutput:
        """Masks per class: ``mask_format``, ``polygons``, ``threshold``, ``confidence``,
        ``instances``, ``annotate``."""
        return await self._run(IMAGE_SEGMENTATION, image_data, model_id, parameters)

    async def _run(
        self, task: str, image_data: ImageData, model_id: str | None, parameters: dict[str, Any]
    ) -> Any:
        request = InferenceRequest(
            model_id=model_id,
            inputs={"image": _image_bytes(image_data)},
            parameters=parameters,
        )
        response = await self.runtime.inference.run_inference(request, task=task)
        return response.outputs


def _image_bytes(image_data: ImageData) -> bytes:
    if isinstance(image_data, (bytes, bytearray, memoryview)):
        return bytes(image_data)
    if isinstance(image_data, (str, os.PathLike)):
        path = Path(image_data)
        if not path.is_file():
            raise ValidationFailed(f"no image file at '{path}'", param="image_data")
        return path.read_bytes()
    raise ValidationFailed(
        f"image_data must be bytes or a file path, not {type(image_data).__name__}",
        param="image_data",
    )


def _configured(spec: ModelSpec, config: Mapping[str, Any]) -> ModelSpec:
    fields = msgspec.structs.asdict(spec)
    options = dict(spec.options)
    for key, value in config.items():
        if key == "options":
            options.update(value)
        elif key in _SPEC_FIELDS:
            fields[key] = value
        else:
            options[key] = value
    fields["options"] = options
    try:
        return msgspec.convert(fields, ModelSpec)
    except msgspec.ValidationError as error:
        raise ValidationFailed(f"config: {error}", param="config") from None
