"""altlas-segmentation passes the SDK's conformance suite with the real u2netp weights
on a synthetic shape."""

from __future__ import annotations

import io
from typing import Any, ClassVar

from PIL import Image, ImageDraw

from altlas_sdk.errors import ValidationFailed
from altlas_sdk.testing import BackendConformance
from altlas_sdk.vision.tasks import SegmentationOutput


def _disc() -> bytes:
    image = Image.new("RGB", (160, 120), (230, 232, 225))
    ImageDraw.Draw(image).ellipse((40, 20, 120, 100), fill=(30, 90, 200))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


class TestU2NetP(BackendConformance):
    plugin = "segmentation"
    model_id = "u2netp"
    valid_inputs: ClassVar[dict[str, Any]] = {"image": _disc()}
    bad_inputs: ClassVar[dict[str, Any]] = {"image": b""}
    bad_input_error = ValidationFailed
    heavy_modules = ("onnxruntime", "cv2", "PIL", "numpy")

    def check_output(self, output: SegmentationOutput) -> None:
        foreground = next(s for s in output.segments if s.label == "foreground")
        # The disc covers a third of the image: about 5,000 of 19,200 pixels.
        assert 4000 < foreground.area < 6000
