"""altlas-whisper passes the SDK's conformance suite with the real Whisper base weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from altlas_sdk.audio.tasks import SpeechToTextOutput
from altlas_sdk.errors import UnsupportedMediaType
from altlas_sdk.testing import BackendConformance

CLIP = (Path(__file__).parent / "data" / "quick-brown-fox.opus").read_bytes()


class TestWhisperBase(BackendConformance):
    plugin = "whisper"
    model_id = "whisper-base"
    valid_inputs: ClassVar[dict[str, Any]] = {"audio": CLIP}
    valid_parameters: ClassVar[dict[str, Any]] = {"language": "en", "beam_size": 1}
    bad_inputs: ClassVar[dict[str, Any]] = {"audio": b"not audio at all"}
    bad_input_error = UnsupportedMediaType
    heavy_modules = ("faster_whisper", "ctranslate2", "av", "numpy")
    environ: ClassVar[dict[str, str]] = {"USE_GPU": "false"}

    def check_output(self, output: SpeechToTextOutput) -> None:
        assert "fox" in output.text.lower() and output.language == "en"
