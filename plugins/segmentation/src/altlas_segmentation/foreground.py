"""The ``u2net`` backend: U^2-Net salient-object masks, the ONNX file run directly.

The preprocessing is the one U^2-Net was trained with (and rembg uses): the image
resized to the model's square input with Lanczos, divided by its brightest value,
normalized with ImageNet's mean and deviation. The first output, min-max scaled, is the
foreground probability; resized back to the image, pixels above ``threshold`` are the
foreground.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from altlas_sdk import (
    Backend,
    CancellationToken,
    DevicePolicy,
    LoadedModel,
    MemoryEstimate,
    ModelFiles,
    ModelSpec,
)
from altlas_sdk.errors import InvalidInput
from altlas_sdk.tasks import IMAGE_SEGMENTATION
from altlas_sdk.vision.annotate import attach_annotation
from altlas_sdk.vision.images import ImageLimits, decode_image
from altlas_sdk.vision.tasks import ImageInput, SegmentationParameters
from altlas_segmentation.output import segmentation_output
from altlas_segmentation.sessions import device_of, open_session

if TYPE_CHECKING:
    import numpy as np
    from msgspec import Struct
    from PIL.Image import Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

BACKGROUND, FOREGROUND = 0, 1
LABELS = {BACKGROUND: "background", FOREGROUND: "foreground"}


class U2NetBackend(Backend):
    """U^2-Net on ONNX Runtime. Its exported graph has a fixed batch of one, so images
    run one per call; a session is thread-safe, so two calls may run at once."""

    name = "u2net"
    tasks = (IMAGE_SEGMENTATION,)
    native_batching = False
    max_concurrency = 2

    def estimate_memory(self, spec: ModelSpec, files: ModelFiles) -> MemoryEstimate:
        # u2netp: 4.6 MB of weights, but its seven 320x320 side outputs and decoder
        # activations take about 120 MB during a run.
        return MemoryEstimate(ram_bytes=2 * files.size_bytes() + 120 * 1024 * 1024)

    def load(self, spec: ModelSpec, files: ModelFiles, policy: DevicePolicy) -> LoadedModel:
        session = open_session(files.path, policy, spec.options)
        return ForegroundModel(session, ImageLimits.from_options(spec.options))


class ForegroundModel(LoadedModel):
    """A loaded U^2-Net: foreground probability per pixel."""

    def __init__(self, session: Any, limits: ImageLimits) -> None:
        self.session = session
        self.device = device_of(session)
        self.limits = limits
        model_input = session.get_inputs()[0]
        self.input_name = model_input.name
        side = model_input.shape[-1]
        self.side = side if isinstance(side, int) else 320

    def infer(
        self, task: str, inputs: Struct, parameters: Struct, cancel: CancellationToken
    ) -> Struct:
        if task != IMAGE_SEGMENTATION:
            raise InvalidInput(f"this model serves 'image-segmentation', not '{task}'")
        assert isinstance(inputs, ImageInput) and isinstance(parameters, SegmentationParameters)
        image = decode_image(inputs.image, self.limits)
        cancel.raise_if_cancelled()
        probability = self.foreground_probability(image)
        foreground = probability > parameters.threshold
        background = ~foreground
        output = segmentation_output(
            [
                (FOREGROUND, LABELS[FOREGROUND], foreground, _mean(probability, foreground)),
                (BACKGROUND, LABELS[BACKGROUND], background, _mean(1 - probability, background)),
            ],
            image.width,
            image.height,
            parameters,
        )
        return attach_annotation(image, output, parameters)

    def foreground_probability(self, image: Image) -> np.ndarray:
        """Per-pixel foreground probability, ``(height, width)`` float32 in [0, 1]."""
        import numpy as np
        from PIL import Image as PILImage

        resized = image.resize((self.side, self.side), PILImage.Resampling.LANCZOS)
        pixels = np.asarray(resized, dtype=np.float32)
        pixels /= max(float(pixels.max()), 1e-6)
        pixels = (pixels - np.array(IMAGENET_MEAN, np.float32)) / np.array(IMAGENET_STD, np.float32)
        batch = pixels.transpose(2, 0, 1)[None].astype(np.float32)
        prediction = self.session.run(None, {self.input_name: batch})[0][0, 0]
        low, high = float(prediction.min()), float(prediction.max())
        prediction = (prediction - low) / max(high - low, 1e-6)
        full = PILImage.fromarray(prediction.astype(np.float32)).resize(
            image.size, PILImage.Resampling.BILINEAR
        )
        return np.clip(np.asarray(full, dtype=np.float32), 0.0, 1.0)


def _mean(values: np.ndarray, mask: np.ndarray) -> float | None:
    return float(values[mask].mean()) if mask.any() else None
