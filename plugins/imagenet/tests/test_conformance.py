"""altlas-imagenet passes the SDK's conformance suite with the real EfficientNet-Lite0
weights on scikit-image's coffee photo."""

from __future__ import annotations

import io
from typing import Any, ClassVar

from PIL import Image
from skimage import data

from altlas_sdk.errors import ValidationFailed
from altlas_sdk.testing import BackendConformance
from altlas_sdk.vision.tasks import ClassificationOutput


def _coffee() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(data.coffee()).save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


class TestEfficientNetLite0(BackendConformance):
    plugin = "imagenet"
    model_id = "efficientnet-lite0"
    valid_inputs: ClassVar[dict[str, Any]] = {"image": _coffee()}
    valid_parameters: ClassVar[dict[str, Any]] = {"top_k": 3}
    bad_inputs: ClassVar[dict[str, Any]] = {"image": b""}
    bad_input_error = ValidationFailed
    heavy_modules = ("torch", "efficientnet_lite_pytorch", "PIL", "numpy")

    def check_output(self, output: ClassificationOutput) -> None:
        assert len(output.labels) == 3 and output.labels[0].label == "espresso"
