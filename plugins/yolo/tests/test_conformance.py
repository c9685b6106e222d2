"""altlas-yolo passes the SDK's conformance suite with the real yolo11n-pose weights on
Ultralytics' own bus photo."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, ClassVar

from altlas_sdk.errors import ValidationFailed
from altlas_sdk.testing import BackendConformance
from altlas_sdk.vision.tasks import DetectionOutput

BUS = (
    Path(importlib.util.find_spec("ultralytics").submodule_search_locations[0])
    / "assets"
    / "bus.jpg"
).read_bytes()


class TestYolo11nPose(BackendConformance):
    plugin = "yolo"
    model_id = "yolo11n-pose"
    valid_inputs: ClassVar[dict[str, Any]] = {"image": BUS}
    valid_parameters: ClassVar[dict[str, Any]] = {"confidence": 0.5}
    bad_inputs: ClassVar[dict[str, Any]] = {"image": b""}
    bad_input_error = ValidationFailed
    heavy_modules = ("torch", "ultralytics", "cv2", "PIL", "numpy")

    def check_output(self, output: DetectionOutput) -> None:
        assert (output.width, output.height) == (810, 1080)
        assert [d.label for d in output.detections] == ["person"] * 3
