"""The ``onnx-segmentation`` backend: any semantic-segmentation ONNX model.

The model takes one float image tensor ``(batch, 3, height, width)`` and returns either
per-class scores ``(batch, classes, h, w)`` or class ids ``(batch, h, w)``, at any
resolution: the class map is scaled back to the image. Everything else comes from the
catalog entry's options (the model file cannot say how it was trained):

- ``input_size``: ``[height, width]`` the image is resized to (default: the model's
  fixed input size, else 512x512);
- ``mean`` / ``std``: per-channel normalization after scaling pixels to [0, 1]
  (default ImageNet's); ``channel_order``: ``rgb`` (default) or ``bgr``;
- ``activation``: how scores become probabilities: ``softmax`` (default), ``sigmoid``
  or ``none``;
- ``labels``: class names in class-id order (or a ``labels`` file, one per line);
- ``ignore``: class ids left out of the output (a background class, say).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from altlas_sdk import (
    Backend,
    BatchedModel,
    CancellationToken,
    DevicePolicy,
    LoadedModel,
    MemoryEstimate,
    ModelFiles,
    ModelSpec,
)
from altlas_sdk.errors import AltlasError, InvalidInput, InvalidModelFile
from altlas_sdk.tasks import IMAGE_SEGMENTATION
from altlas_sdk.vision.annotate import attach_annotation
from altlas_sdk.vision.images import ImageLimits, decode_batch
from altlas_sdk.vision.tasks import SegmentationParameters
from altlas_segmentation.foreground import IMAGENET_MEAN, IMAGENET_STD
from altlas_segmentation.output import segmentation_output
from altlas_segmentation.sessions import device_of, open_session

if TYPE_CHECKING:
    import numpy as np
    from msgspec import Struct
    from PIL.Image import Image

DEFAULT_SIDE = 512
ACTIVATIONS = ("softmax", "sigmoid", "none")


class OnnxSegmentationBackend(Backend):
    """Semantic segmentation with a user-supplied ONNX model. Images of a batch run in
    one session call when the model's batch dimension is dynamic."""

    name = "onnx-segmentation"
    tasks = (IMAGE_SEGMENTATION,)
    native_batching = True
    max_concurrency = 2

    def estimate_memory(self, spec: ModelSpec, files: ModelFiles) -> MemoryEstimate:
        # Weights, ONNX Runtime's optimized copy, and per-class score maps.
        return MemoryEstimate(ram_bytes=3 * files.size_bytes() + 100 * 1024 * 1024)

    def load(self, spec: ModelSpec, files: ModelFiles, policy: DevicePolicy) -> LoadedModel:
        session = open_session(files.path, policy, spec.options)
        return SemanticModel(session, _Settings.of(spec, files, session))


class _Settings:
    """The entry's options, validated once at load."""

    def __init__(self, **values: Any) -> None:
        self.size: tuple[int, int] = values["size"]
        self.mean: tuple[float, ...] = values["mean"]
        self.std: tuple[float, ...] = values["std"]
        self.bgr: bool = values["bgr"]
        self.activation: str = values["activation"]
        self.labels: list[str] = values["labels"]
        self.ignore: set[int] = values["ignore"]
        self.limits: ImageLimits = values["limits"]

    @classmethod
    def of(cls, spec: ModelSpec, files: ModelFiles, session: Any) -> _Settings:
        options = spec.options
        shape = session.get_inputs()[0].shape
        fixed = [side for side in shape[2:] if isinstance(side, int)]
        size = options.get("input_size") or (fixed if len(fixed) == 2 else None)
        size = size or [DEFAULT_SIDE, DEFAULT_SIDE]
        activation = options.get("activation", "softmax")
        if activation not in ACTIVATIONS:
            raise InvalidModelFile(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
        order = options.get("channel_order", "rgb")
        if order not in ("rgb", "bgr"):
            raise InvalidModelFile(f"channel_order must be 'rgb' or 'bgr', got {order!r}")
        return cls(
            size=(int(size[0]), int(size[1])),
            mean=tuple(float(v) for v in options.get("mean", IMAGENET_MEAN)),
            std=tuple(float(v) for v in options.get("std", IMAGENET_STD)),
            bgr=order == "bgr",
            activation=activation,
            labels=_labels(options, files.extra.get("labels")),
            ignore={int(v) for v in options.get("ignore", [])},
            limits=ImageLimits.from_options(options),
        )

    def label(self, class_id: int) -> str:
        return self.labels[class_id] if class_id < len(self.labels) else f"class_{class_id}"


def _labels(options: dict[str, Any], path: Path | None) -> list[str]:
    if path is not None:
        return [line.strip() for line in path.read_text("utf-8").splitlines() if line.strip()]
    return [str(label) for label in options.get("labels", [])]


class SemanticModel(BatchedModel):
    """A loaded semantic-segmentation model."""

    def __init__(self, session: Any, settings: _Settings) -> None:
        self.session = session
        self.settings = settings
        self.device = device_of(session)
        model_input = session.get_inputs()[0]
        self.input_name = model_input.name
        self.fixed_batch = isinstance(model_input.shape[0], int) and model_input.shape[0] == 1

    def infer_batch(
        self,
        task: str,
        inputs: Sequence[Struct],
        parameters: Struct,
        cancel: CancellationToken,
    ) -> list[Struct | AltlasError]:
        import numpy as np

        if task != IMAGE_SEGMENTATION:
            raise InvalidInput(f"this model serves 'image-segmentation', not '{task}'")
        assert isinstance(parameters, SegmentationParameters)
        results, images = decode_batch(inputs, self.settings.limits)
        if not images:
            return results  # type: ignore[return-value]
        batch = np.stack([self._preprocess(image) for image in images.values()])
        cancel.raise_if_cancelled()
        scores = self._run(batch)
        for (index, image), image_scores in zip(images.items(), scores, strict=True):
            output = segmentation_output(
                self._masks(image, image_scores), image.width, image.height, parameters
            )
            results[index] = attach_annotation(image, output, parameters)
        return results  # type: ignore[return-value]

    def _preprocess(self, image: Image) -> np.ndarray:
        import numpy as np
        from PIL import Image as PILImage

        height, width = self.settings.size
        resized = image.resize((width, height), PILImage.Resampling.BILINEAR)
        pixels = np.asarray(resized, dtype=np.float32) / 255.0
        if self.settings.bgr:
            pixels = pixels[:, :, ::-1]
        mean = np.array(self.settings.mean, dtype=np.float32)
        std = np.array(self.settings.std, dtype=np.float32)
        return ((pixels - mean) / std).transpose(2, 0, 1).astype(np.float32)

    def _run(self, batch: np.ndarray) -> list[np.ndarray]:
        try:
            if self.fixed_batch:
                outputs = [self.session.run(None, {self.input_name: row[None]})[0] for row in batch]
                return [output[0] for output in outputs]
            return list(self.session.run(None, {self.input_name: batch})[0])
        except Exception as error:  # noqa: BLE001 - onnxruntime names the mismatch
            raise InvalidModelFile(
                f"the model rejected a {list(batch.shape)} float32 image tensor: {error}; "
                "check the entry's input_size and the model's input"
            ) from None

    def _masks(
        self, image: Image, scores: np.ndarray
    ) -> list[tuple[int, str, np.ndarray, float | None]]:
        """One boolean mask per class present, at the image's size, with the class's
        mean probability over its pixels."""
        import numpy as np
        from PIL import Image as PILImage

        if scores.ndim == 2:  # class ids
            class_map, confidence = scores.astype(np.int32), None
        elif scores.ndim == 3:
            probabilities = _activate(scores.astype(np.float32), self.settings.activation)
            class_map = probabilities.argmax(axis=0).astype(np.int32)
            confidence = probabilities.max(axis=0)
        else:
            raise InvalidModelFile(
                f"the model's output has shape {list(scores.shape)} per image; expected "
                "(classes, h, w) scores or (h, w) class ids"
            )
        # Nearest-neighbour keeps class ids whole; a model's map is usually coarser.
        full = np.asarray(
            PILImage.fromarray(class_map).resize(image.size, PILImage.Resampling.NEAREST)
        )
        masks = []
        for class_id in np.unique(class_map).tolist():
            if class_id in self.settings.ignore:
                continue
            score = (
                float(confidence[class_map == class_id].mean()) if confidence is not None else None
            )
            masks.append((class_id, self.settings.label(class_id), full == class_id, score))
        return masks


def _activate(scores: np.ndarray, activation: str) -> np.ndarray:
    import numpy as np

    if activation == "softmax":
        shifted = np.exp(scores - scores.max(axis=0, keepdims=True))
        return shifted / shifted.sum(axis=0, keepdims=True)
    if activation == "sigmoid":
        return 1.0 / (1.0 + np.exp(-scores))
    return scores
