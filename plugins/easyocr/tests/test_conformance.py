"""altlas-easyocr passes the SDK's conformance suite with the real English weights on a
small rendered word (EasyOCR takes seconds per image: the image is kept small)."""

from __future__ import annotations

import io
from typing import Any, ClassVar

import pytest
from PIL import Image, ImageDraw

from altlas_sdk.errors import ValidationFailed
from altlas_sdk.testing import BackendConformance
from altlas_sdk.vision.tasks import OcrOutput

# EasyOCR's recognizer builds a DataLoader with pin_memory=True; torch warns on a CPU.
pytestmark = pytest.mark.filterwarnings(
    "ignore:'pin_memory' argument is set as true but no accelerator:UserWarning"
)


def _word() -> bytes:
    image = Image.new("RGB", (200, 60), "white")
    ImageDraw.Draw(image).text((12, 12), "HELLO", fill="black", font_size=32)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


class TestEasyOcrEnglish(BackendConformance):
    plugin = "easyocr"
    model_id = "easyocr-en"
    valid_inputs: ClassVar[dict[str, Any]] = {"image": _word()}
    bad_inputs: ClassVar[dict[str, Any]] = {"image": b""}
    bad_input_error = ValidationFailed
    heavy_modules = ("easyocr", "torch", "cv2", "PIL", "numpy")

    def check_output(self, output: OcrOutput) -> None:
        assert output.text == "HELLO"
