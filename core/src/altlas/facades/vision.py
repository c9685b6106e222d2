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

from typing import Any

from altlas.facades.tasks import MediaData, TaskFacade, media_bytes
from altlas_sdk.tasks import IMAGE_CLASSIFICATION, IMAGE_SEGMENTATION, OBJECT_DETECTION, OCR
from altlas_sdk.vision.tasks import (
    ClassificationOutput,
    DetectionOutput,
    OcrOutput,
    SegmentationOutput,
)

#: The vision task ids, in the design document's order.
VISION_TASK_IDS = (OBJECT_DETECTION, OCR, IMAGE_CLASSIFICATION, IMAGE_SEGMENTATION)

#: An image: its encoded bytes (JPEG, PNG, WebP, BMP) or the path of such a file.
ImageData = MediaData


class VisionModelManager(TaskFacade):
    """Vision models in-process: load and unload them, and run the four vision tasks."""

    task_ids = VISION_TASK_IDS

    async def detect_objects(
        self, image_data: ImageData, model_id: str | None = None, **parameters: Any
    ) -> DetectionOutput:
        """Objects in the image: ``confidence``, ``iou``, ``classes``,
        ``max_detections``, ``image_size``, ``annotate`` as on the HTTP route."""
        return await self._run(OBJECT_DETECTION, _image(image_data), model_id, parameters)

    async def recognize_text(
        self, image_data: ImageData, model_id: str | None = None, **parameters: Any
    ) -> OcrOutput:
        """The text in the image: ``min_confidence``, ``paragraphs``, ``annotate``."""
        return await self._run(OCR, _image(image_data), model_id, parameters)

    async def classify_image(
        self, image_data: ImageData, model_id: str | None = None, **parameters: Any
    ) -> ClassificationOutput:
        """The image's top classes: ``top_k``, ``annotate``."""
        return await self._run(IMAGE_CLASSIFICATION, _image(image_data), model_id, parameters)

    async def segment_image(
        self, image_data: ImageData, model_id: str | None = None, **parameters: Any
    ) -> SegmentationOutput:
        """Masks per class: ``mask_format``, ``polygons``, ``threshold``, ``confidence``,
        ``instances``, ``annotate``."""
        return await self._run(IMAGE_SEGMENTATION, _image(image_data), model_id, parameters)


def _image(image_data: ImageData) -> dict[str, bytes]:
    return {"image": media_bytes(image_data, "image")}
