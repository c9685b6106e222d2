"""The ``easyocr`` backend: an EasyOCR ``Reader`` per model, weights from a folder.

Downloads stay off: the entry's folder must hold the detector (``craft_mlt_25k.pth``)
and the recognizer of its languages (``english_g2.pth`` for English); a missing file is
a ``409 weights_missing`` that names it, never a download attempt. The ``.pth`` files
are unpickled with ``torch.load(weights_only=True)`` (:mod:`altlas_easyocr.safe_load`)
unless the entry has ``trust_pickled_weights = true``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from altlas_easyocr.safe_load import restrict_easyocr_loads, trusting
from altlas_sdk import (
    Backend,
    CancellationToken,
    Device,
    DevicePolicy,
    LoadedModel,
    MemoryEstimate,
    ModelFiles,
    ModelSpec,
)
from altlas_sdk.errors import (
    BackendUnavailable,
    InvalidInput,
    InvalidModelFile,
    WeightsMissing,
)
from altlas_sdk.pickles import PickledWeightsRefused, refused_by_safe_loader, trust_hint
from altlas_sdk.tasks import OCR
from altlas_sdk.vision.annotate import attach_annotation
from altlas_sdk.vision.images import ImageLimits, decode_image, to_array
from altlas_sdk.vision.layout import ocr_output
from altlas_sdk.vision.tasks import ImageInput, OcrLine, OcrParameters

if TYPE_CHECKING:
    from msgspec import Struct


class EasyOcrBackend(Backend):
    """EasyOCR on torch: one image per call, one call at a time per model."""

    name = "easyocr"
    tasks = (OCR,)
    native_batching = False
    max_concurrency = 1

    def estimate_memory(self, spec: ModelSpec, files: ModelFiles) -> MemoryEstimate:
        # CRAFT's activations on a full page dominate: about 400 MB beyond the weights.
        return MemoryEstimate(ram_bytes=files.size_bytes() + 400 * 1024 * 1024)

    def load(self, spec: ModelSpec, files: ModelFiles, policy: DevicePolicy) -> LoadedModel:
        try:
            import easyocr
            import torch
        except ImportError as error:
            raise BackendUnavailable(
                f"{error.name} is not installed: pip install altlas-easyocr"
            ) from None
        folder = files.path
        if not folder.is_dir():
            raise WeightsMissing(
                f"'{folder.name}' is not a folder; an easyocr entry's source is the folder "
                "of its .pth weights"
            )
        languages = list(spec.options.get("languages", ["en"]))
        gpu = policy.use_gpu and torch.cuda.is_available()
        restrict_easyocr_loads()
        try:
            with trusting(spec.trust_pickled_weights):
                reader = easyocr.Reader(
                    languages,
                    gpu=gpu,
                    model_storage_directory=str(folder),
                    # Without it EasyOCR creates ~/.EasyOCR/user_network.
                    user_network_directory=str(folder),
                    download_enabled=False,
                    verbose=False,
                )
        except FileNotFoundError as error:
            raise WeightsMissing(
                f"EasyOCR weights for {languages} are missing from '{folder.name}': {error}"
            ) from None
        except ValueError as error:  # unknown language codes
            raise InvalidModelFile(f"EasyOCR cannot read {languages}: {error}") from None
        except Exception as error:  # noqa: BLE001 - torch raises many types on bad files
            if refused_by_safe_loader(error):
                raise PickledWeightsRefused(
                    f"refused to load EasyOCR's weights in '{folder.name}': they hold objects "
                    f"beyond tensors; {trust_hint(spec)}"
                ) from None
            raise InvalidModelFile(f"cannot load EasyOCR from '{folder.name}': {error}") from None
        return EasyOcrModel(reader, gpu, ImageLimits.from_options(spec.options))


class EasyOcrModel(LoadedModel):
    """A loaded EasyOCR reader."""

    def __init__(self, reader: Any, gpu: bool, limits: ImageLimits) -> None:
        self.reader = reader
        self.limits = limits
        self.device = Device("cuda", 0) if gpu else Device()

    def infer(
        self, task: str, inputs: Struct, parameters: Struct, cancel: CancellationToken
    ) -> Struct:
        if task != OCR:
            raise InvalidInput(f"this model serves 'ocr', not '{task}'", param="$.task")
        assert isinstance(inputs, ImageInput) and isinstance(parameters, OcrParameters)
        image = decode_image(inputs.image, self.limits)
        cancel.raise_if_cancelled()
        # EasyOCR takes numpy images in RGB order.
        found = self.reader.readtext(to_array(image), detail=1, paragraph=False)
        lines = [
            OcrLine(
                text=text,
                confidence=round(float(confidence), 4),
                polygon=[[round(float(x), 1), round(float(y), 1)] for x, y in box],
            )
            for box, text, confidence in found
        ]
        output = ocr_output(lines, image.width, image.height, parameters)
        return attach_annotation(image, output, parameters)
