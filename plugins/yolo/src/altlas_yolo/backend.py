"""The ``yolo`` backend: any Ultralytics weights (``.pt``, exported ``.onnx``...).

The weights say what the model does (Ultralytics reads its task from them): ``detect``,
``pose`` and ``obb`` models serve ``object-detection``; ``segment`` models serve
``image-segmentation`` and ``object-detection``; ``classify`` models serve
``image-classification``. Images of one batch run through the model in one call.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from altlas_sdk import (
    Backend,
    BatchedModel,
    CancellationToken,
    Device,
    DevicePolicy,
    LoadedModel,
    MemoryEstimate,
    ModelFiles,
    ModelSpec,
)
from altlas_sdk.errors import AltlasError, InvalidInput, WeightsMissing
from altlas_sdk.tasks import IMAGE_CLASSIFICATION, IMAGE_SEGMENTATION, OBJECT_DETECTION
from altlas_sdk.vision.annotate import attach_annotation
from altlas_sdk.vision.images import ImageLimits, decode_batch
from altlas_yolo.offline import import_ultralytics
from altlas_yolo.results import classes_filter, to_classification, to_detection, to_segmentation
from altlas_yolo.weights import load_yolo

if TYPE_CHECKING:
    from msgspec import Struct
    from PIL.Image import Image

logger = logging.getLogger(__name__)

#: Which altlas tasks each Ultralytics task serves.
SERVED_TASKS: dict[str, tuple[str, ...]] = {
    "detect": (OBJECT_DETECTION,),
    "pose": (OBJECT_DETECTION,),
    "obb": (OBJECT_DETECTION,),
    "segment": (IMAGE_SEGMENTATION, OBJECT_DETECTION),
    "classify": (IMAGE_CLASSIFICATION,),
}

# Ultralytics names its weights by task: yolo11n-seg.pt, yolov8s-cls.pt, yolo11n-pose.pt.
_SUFFIX_TASKS = (("-seg", IMAGE_SEGMENTATION), ("-cls", IMAGE_CLASSIFICATION))


class YoloBackend(Backend):
    """Ultralytics YOLO. One predictor per model is not thread-safe: one call at a time,
    images of a batch in one forward pass."""

    name = "yolo"
    tasks = (OBJECT_DETECTION, IMAGE_SEGMENTATION, IMAGE_CLASSIFICATION)
    native_batching = True
    max_concurrency = 1
    file_suffixes = (".pt",)

    def discover(self, path: Path) -> str | None:
        """Claims ``*.pt`` files whose name says YOLO (``yolov8n.pt``, ``yolo11n-seg.pt``);
        the task follows Ultralytics' naming."""
        name = path.name.lower()
        if not (path.is_file() and name.endswith(".pt") and "yolo" in name):
            return None
        stem = name[: -len(".pt")]
        for suffix, task in _SUFFIX_TASKS:
            if stem.endswith(suffix):
                return task
        return OBJECT_DETECTION

    def estimate_memory(self, spec: ModelSpec, files: ModelFiles) -> MemoryEstimate:
        # Small YOLO weights are a few MB; the activations at 640x640 and torch's own
        # buffers dominate: about 150 MB beyond the weights, measured for the nano models.
        return MemoryEstimate(ram_bytes=4 * files.size_bytes() + 150 * 1024 * 1024)

    def load(self, spec: ModelSpec, files: ModelFiles, policy: DevicePolicy) -> LoadedModel:
        ultralytics = import_ultralytics()
        if not files.path.exists():
            raise WeightsMissing(f"'{files.path.name}' does not exist")
        model = load_yolo(ultralytics, spec, files.path)
        return YoloModel(model, spec, _device_for(policy))


def _device_for(policy: DevicePolicy) -> str:
    import torch

    return "cuda:0" if policy.use_gpu and torch.cuda.is_available() else "cpu"


class YoloModel(BatchedModel):
    """A loaded Ultralytics model."""

    def __init__(self, model: Any, spec: ModelSpec, device: str) -> None:
        self.model = model
        self.kind: str = model.task
        self.names: dict[int, str] = dict(model.names)
        self.served = SERVED_TASKS.get(self.kind, ())
        self.limits = ImageLimits.from_options(spec.options)
        self.default_size: int | None = spec.options.get("image_size")
        self.device_name = device
        self._warm_up()
        # Read back where the predictor really put the model, not where it was asked to.
        placed = self.model.predictor.device
        self.device = Device("cuda", placed.index or 0) if placed.type == "cuda" else Device()

    def _warm_up(self) -> None:
        import numpy as np

        # The first predict builds the predictor and fuses layers (over a second on
        # CPU); pay for it at load time rather than on the first request.
        blank = np.zeros((64, 64, 3), dtype=np.uint8)
        self.model.predict([blank], device=self.device_name, verbose=False)

    def infer_batch(
        self,
        task: str,
        inputs: Sequence[Struct],
        parameters: Struct,
        cancel: CancellationToken,
    ) -> list[Struct | AltlasError]:
        if task not in self.served:
            raise InvalidInput(
                f"this is a YOLO '{self.kind}' model; it serves {list(self.served)}, not '{task}'",
                param="$.task",
            )
        results, images = decode_batch(inputs, self.limits)
        if images:
            cancel.raise_if_cancelled()
            predictions = self._predict(task, list(images.values()), parameters)
            for (index, image), prediction in zip(images.items(), predictions, strict=True):
                output = self._convert(task, prediction, parameters)
                results[index] = attach_annotation(image, output, parameters)
        return results  # type: ignore[return-value]

    def _predict(self, task: str, images: list[Image], parameters: Any) -> list[Any]:
        import numpy as np

        arguments: dict[str, Any] = {"device": self.device_name, "verbose": False}
        if task != IMAGE_CLASSIFICATION:
            arguments.update(
                conf=parameters.confidence,
                classes=classes_filter(parameters, self.names),
            )
        if task == OBJECT_DETECTION:
            arguments.update(iou=parameters.iou, max_det=parameters.max_detections)
        if task == IMAGE_SEGMENTATION:
            # Masks at the image's own resolution rather than the model's input size.
            arguments.update(retina_masks=True)
        size = getattr(parameters, "image_size", None) or self.default_size
        if size is not None:
            arguments["imgsz"] = size
        # Ultralytics takes numpy images as OpenCV does: BGR.
        batch = [np.ascontiguousarray(np.asarray(image)[:, :, ::-1]) for image in images]
        return self.model.predict(batch, **arguments)

    def _convert(self, task: str, prediction: Any, parameters: Any) -> Struct:
        if task == IMAGE_CLASSIFICATION:
            return to_classification(prediction, parameters)
        if task == IMAGE_SEGMENTATION:
            return to_segmentation(prediction, parameters)
        return to_detection(prediction, self.kind)
