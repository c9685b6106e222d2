"""The ``efficientnet-lite`` backend: EfficientNet-Lite0..4 classifiers on torch.

Preprocessing is the one the weights were trained with: the shorter side resized to
``image_size / 0.875``, a centred ``image_size`` square, pixels scaled to about
[-1, 1] with ``(rgb / 255 - 0.498) / 0.502``. Images of a batch run in one forward pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
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
from altlas_sdk.errors import (
    AltlasError,
    BackendUnavailable,
    InvalidInput,
    InvalidModelFile,
)
from altlas_sdk.tasks import IMAGE_CLASSIFICATION
from altlas_sdk.vision.annotate import attach_annotation
from altlas_sdk.vision.images import ImageLimits, decode_batch
from altlas_sdk.vision.tasks import ClassificationOutput, ClassificationParameters, ClassScore

if TYPE_CHECKING:
    import numpy as np
    from msgspec import Struct
    from PIL.Image import Image

#: Input side of each architecture, as published with the weights.
IMAGE_SIZES = {
    "efficientnet-lite0": 224,
    "efficientnet-lite1": 240,
    "efficientnet-lite2": 260,
    "efficientnet-lite3": 280,
    "efficientnet-lite4": 300,
}

# The centre crop covers 87.5% of the resized image, as in the reference evaluation.
_CROP_FRACTION = 0.875


def imagenet_labels() -> list[str]:
    """The 1000 ImageNet-1k class names in class-id order (torchvision's list)."""
    text = resources.files("altlas_imagenet").joinpath("imagenet_classes.txt").read_text("utf-8")
    return text.splitlines()


class EfficientNetLiteBackend(Backend):
    """EfficientNet-Lite on torch; torch runs one forward pass at a time well on CPU."""

    name = "efficientnet-lite"
    tasks = (IMAGE_CLASSIFICATION,)
    native_batching = True
    max_concurrency = 1

    def estimate_memory(self, spec: ModelSpec, files: ModelFiles) -> MemoryEstimate:
        # Weights plus activations of a small batch at 224x224: about 60 MB beyond the
        # file for Lite0 (torch's own libraries are shared by every torch model).
        return MemoryEstimate(ram_bytes=2 * files.size_bytes() + 60 * 1024 * 1024)

    def load(self, spec: ModelSpec, files: ModelFiles, policy: DevicePolicy) -> LoadedModel:
        try:
            import torch
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError as error:
            raise BackendUnavailable(
                f"{error.name} is not installed: pip install altlas-imagenet"
            ) from None
        architecture = spec.options.get("architecture", "efficientnet-lite0")
        if architecture not in IMAGE_SIZES:
            raise InvalidModelFile(
                f"unknown architecture {architecture!r}; choose one of {sorted(IMAGE_SIZES)}"
            )
        labels = _labels(files.extra.get("labels"))
        try:
            model = EfficientNet.from_pretrained(
                architecture, weights_path=str(files.path), num_classes=len(labels)
            )
        except Exception as error:  # noqa: BLE001 - torch raises many types on bad files
            raise InvalidModelFile(
                f"cannot load '{files.path.name}' as {architecture}: {error}"
            ) from None
        device = "cuda" if policy.use_gpu and torch.cuda.is_available() else "cpu"
        model = model.to(device).eval()
        size = int(spec.options.get("image_size", IMAGE_SIZES[architecture]))
        return ClassifierModel(model, labels, size, ImageLimits.from_options(spec.options))


def _labels(path: Path | None) -> list[str]:
    if path is None:
        return imagenet_labels()
    labels = [line.strip() for line in path.read_text("utf-8").splitlines() if line.strip()]
    if not labels:
        raise InvalidModelFile(f"the labels file '{path}' is empty")
    return labels


class ClassifierModel(BatchedModel):
    """A loaded EfficientNet-Lite classifier."""

    def __init__(self, model: Any, labels: list[str], size: int, limits: ImageLimits) -> None:
        self.model = model
        self.labels = labels
        self.size = size
        self.limits = limits
        parameter = next(model.parameters())
        self.torch_device = parameter.device
        self.device = Device("cuda", parameter.device.index or 0) if parameter.is_cuda else Device()

    def infer_batch(
        self,
        task: str,
        inputs: Sequence[Struct],
        parameters: Struct,
        cancel: CancellationToken,
    ) -> list[Struct | AltlasError]:
        import numpy as np
        import torch

        if task != IMAGE_CLASSIFICATION:
            raise InvalidInput(f"this model serves 'image-classification', not '{task}'")
        assert isinstance(parameters, ClassificationParameters)
        results, images = decode_batch(inputs, self.limits)
        if not images:
            return results  # type: ignore[return-value]
        batch = np.stack([self._preprocess(image) for image in images.values()])
        cancel.raise_if_cancelled()
        with torch.inference_mode():
            logits = self.model(torch.from_numpy(batch).to(self.torch_device))
            probabilities = logits.softmax(dim=-1).cpu().numpy()
        top_k = min(parameters.top_k, len(self.labels))
        for (index, image), row in zip(images.items(), probabilities, strict=True):
            order = row.argsort()[::-1][:top_k]
            output = ClassificationOutput(
                labels=[
                    ClassScore(label=self.labels[i], class_id=int(i), score=round(float(row[i]), 5))
                    for i in order
                ]
            )
            results[index] = attach_annotation(image, output, parameters)
        return results  # type: ignore[return-value]

    def _preprocess(self, image: Image) -> np.ndarray:
        import numpy as np
        from PIL import Image as PILImage

        scale = self.size / _CROP_FRACTION / min(image.size)
        width, height = (max(self.size, round(side * scale)) for side in image.size)
        resized = image.resize((width, height), PILImage.Resampling.BICUBIC)
        left, top = (width - self.size) // 2, (height - self.size) // 2
        crop = resized.crop((left, top, left + self.size, top + self.size))
        pixels = np.asarray(crop, dtype=np.float32) / 255.0
        return ((pixels - 0.498) / 0.502).transpose(2, 0, 1)
