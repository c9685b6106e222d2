"""The plugin's default catalog: Resemblyzer's encoder, which ships in its PyPI package."""

from __future__ import annotations

from altlas_sdk import ModelSpec
from altlas_sdk.tasks import SPEAKER_DIARIZATION

RESEMBLYZER_DIARIZATION = ModelSpec(
    id="resemblyzer-diarization",
    backend="resemblyzer",
    tasks=[SPEAKER_DIARIZATION],
    source="package:resemblyzer/pretrained.pt",
    description=(
        "Offline diarization: Silero VAD, Resemblyzer's GE2E speaker encoder (256-d), "
        "average-linkage clustering; pip install --no-deps Resemblyzer==0.1.4"
    ),
    license="Apache-2.0",
    default_for=[SPEAKER_DIARIZATION],
    tags={"size_mb": 17, "embedding": 256, "offline": True},
)

DEFAULT_MODELS: tuple[ModelSpec, ...] = (RESEMBLYZER_DIARIZATION,)
