"""The plugin's default catalog: pyannote's community pipeline, whose weights the user
supplies (a gated hub repository; no PyPI package ships them)."""

from __future__ import annotations

from altlas_sdk import ModelSpec
from altlas_sdk.tasks import SPEAKER_DIARIZATION

COMMUNITY_1 = ModelSpec(
    id="pyannote-speaker-diarization-community-1",
    backend="pyannote",
    tasks=[SPEAKER_DIARIZATION],
    source="pyannote:pyannote/speaker-diarization-community-1",
    description=(
        "pyannote.audio's speaker-diarization-community-1 pipeline (segmentation, "
        "WeSpeaker embeddings, PLDA + VBx clustering). Gated: accept its terms on "
        "huggingface.co, then put the folder in MODEL_DIR or set HF_TOKEN"
    ),
    license="CC-BY-4.0",
    tags={"needs_user_weights": True},
)

DEFAULT_MODELS: tuple[ModelSpec, ...] = (COMMUNITY_1,)
