"""The ``rapidocr`` backend: text detection, orientation and recognition models run by
RapidOCR on ONNX Runtime, one image per call."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

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
from altlas_sdk.errors import BackendUnavailable, InvalidInput, InvalidModelFile, WeightsMissing
from altlas_sdk.tasks import OCR
from altlas_sdk.vision.annotate import attach_annotation
from altlas_sdk.vision.images import ImageLimits, decode_image, to_array
from altlas_sdk.vision.layout import ocr_output
from altlas_sdk.vision.tasks import ImageInput, OcrLine, OcrParameters

if TYPE_CHECKING:
    from msgspec import Struct

logger = logging.getLogger(__name__)

CUDA = "CUDAExecutionProvider"

#: Settings of RapidOCR the catalog entry's options may change, and their defaults.
#: ``limit_side_len``: the longest side the detector sees (RapidOCR's own default
#: scales the *shortest* side to 736, which makes large photos slow).
DEFAULT_OPTIONS: dict[str, Any] = {
    "limit_side_len": 960,
    "text_score": 0.5,
    "use_cls": True,
    "intra_op_num_threads": -1,
}


class RapidOcrBackend(Backend):
    """RapidOCR. Its engine keeps per-call state, so one call at a time per model."""

    name = "rapidocr"
    tasks = (OCR,)
    native_batching = False
    max_concurrency = 1

    def estimate_memory(self, spec: ModelSpec, files: ModelFiles) -> MemoryEstimate:
        # Three small sessions; activations of a 960-pixel detector pass dominate
        # (about 250 MB RSS measured for the PP-OCRv6 small models).
        return MemoryEstimate(ram_bytes=3 * files.size_bytes() + 150 * 1024 * 1024)

    def load(self, spec: ModelSpec, files: ModelFiles, policy: DevicePolicy) -> LoadedModel:
        try:
            import onnxruntime
            from rapidocr import RapidOCR
        except ImportError as error:
            raise BackendUnavailable(
                f"{error.name} is not installed: pip install 'altlas-rapidocr[cpu]'"
            ) from None
        recognizer = files.extra.get("recognizer")
        if recognizer is None:
            raise WeightsMissing(
                f"model '{spec.id}' needs a 'recognizer' file (the PP-OCR recognition "
                "ONNX model) in its catalog entry's files"
            )
        options = {**DEFAULT_OPTIONS, **spec.options}
        use_cuda = policy.use_gpu and CUDA in onnxruntime.get_available_providers()
        classifier = files.extra.get("classifier")
        params: dict[str, Any] = {
            "Global.log_level": "error",
            "Global.text_score": float(options["text_score"]),
            "Global.use_cls": bool(options["use_cls"]) and classifier is not None,
            "Det.model_path": str(files.path),
            "Det.limit_type": "max",
            "Det.limit_side_len": int(options["limit_side_len"]),
            "Rec.model_path": str(recognizer),
            "EngineConfig.onnxruntime.use_cuda": use_cuda,
            "EngineConfig.onnxruntime.intra_op_num_threads": int(options["intra_op_num_threads"]),
        }
        if classifier is not None:
            params["Cls.model_path"] = str(classifier)
        try:
            engine = RapidOCR(params=params)
        except Exception as error:  # noqa: BLE001 - RapidOCR wraps onnxruntime's errors
            raise InvalidModelFile(
                f"cannot load model '{spec.id}' with RapidOCR: {error}"
            ) from None
        return RapidOcrModel(engine, ImageLimits.from_options(spec.options))


class RapidOcrModel(LoadedModel):
    """A loaded RapidOCR pipeline."""

    def __init__(self, engine: Any, limits: ImageLimits) -> None:
        self.engine = engine
        self.limits = limits
        self._warm_up()
        self.device = _device_of(engine)

    def _warm_up(self) -> None:
        from PIL import Image, ImageDraw

        # RapidOCR creates its sessions on first use; a line of text makes it create
        # all of them now instead of during the first request.
        image = Image.new("RGB", (160, 48), "white")
        ImageDraw.Draw(image).text((8, 12), "warm up", fill="black", font_size=20)
        self._run(to_array(image))

    def infer(
        self, task: str, inputs: Struct, parameters: Struct, cancel: CancellationToken
    ) -> Struct:
        if task != OCR:
            raise InvalidInput(f"this model serves 'ocr', not '{task}'", param="$.task")
        assert isinstance(inputs, ImageInput) and isinstance(parameters, OcrParameters)
        image = decode_image(inputs.image, self.limits)
        cancel.raise_if_cancelled()
        lines = self._run(to_array(image))
        output = ocr_output(lines, image.width, image.height, parameters)
        return attach_annotation(image, output, parameters)

    def _run(self, rgb: Any) -> list[OcrLine]:
        # RapidOCR reads numpy images as OpenCV does: BGR.
        result = self.engine(rgb[:, :, ::-1].copy())
        if result.txts is None or result.boxes is None:
            return []
        return [
            OcrLine(
                text=text,
                confidence=round(float(score), 4),
                polygon=[[round(float(x), 1), round(float(y), 1)] for x, y in box],
            )
            for text, score, box in zip(result.txts, result.scores, result.boxes, strict=True)
        ]


def _device_of(engine: Any) -> Device:
    # Read back what the detector's session really runs on: onnxruntime-gpu lists CUDA
    # even where it then falls back to the CPU.
    session = getattr(getattr(getattr(engine, "text_det", None), "session", None), "session", None)
    providers = session.get_providers() if session is not None else []
    return Device("cuda", 0) if providers and providers[0] == CUDA else Device()
