"""The plugin's default catalog: the PP-OCR models inside the rapidocr wheel."""

from __future__ import annotations

from altlas_sdk import ModelSpec
from altlas_sdk.tasks import OCR

PP_OCRV6 = ModelSpec(
    id="pp-ocrv6",
    backend="rapidocr",
    tasks=[OCR],
    source="package:rapidocr/models/PP-OCRv6_det_small.onnx",
    files={
        "recognizer": "package:rapidocr/models/PP-OCRv6_rec_small.onnx",
        "classifier": "package:rapidocr/models/ch_ppocr_mobile_v2.0_cls_mobile.onnx",
    },
    description=(
        "PP-OCRv6 small (detection + recognition) with the PP-OCR text orientation "
        "classifier, on ONNX Runtime; Latin and Chinese scripts; ships in rapidocr"
    ),
    license="Apache-2.0",
    default_for=[OCR],
    tags={"engine": "onnxruntime", "size_mb": 32},
)

DEFAULT_MODELS: tuple[ModelSpec, ...] = (PP_OCRV6,)
