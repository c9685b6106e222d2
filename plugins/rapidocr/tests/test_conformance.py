"""altlas-rapidocr passes the SDK's conformance suite with the real PP-OCRv6 models on
text rendered with Pillow."""

from __future__ import annotations

import io
from typing import Any, ClassVar

from PIL import Image, ImageDraw

from altlas_sdk.errors import ValidationFailed
from altlas_sdk.testing import BackendConformance
from altlas_sdk.vision.tasks import OcrOutput


def _page() -> bytes:
    image = Image.new("RGB", (360, 80), "white")
    ImageDraw.Draw(image).text((16, 20), "Conformance 42", fill="black", font_size=32)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


class TestPpOcrV6(BackendConformance):
    plugin = "rapidocr"
    model_id = "pp-ocrv6"
    valid_inputs: ClassVar[dict[str, Any]] = {"image": _page()}
    bad_inputs: ClassVar[dict[str, Any]] = {"image": b""}
    bad_input_error = ValidationFailed
    heavy_modules = ("rapidocr", "onnxruntime", "cv2", "PIL", "numpy")

    def check_output(self, output: OcrOutput) -> None:
        assert output.text == "Conformance 42"
