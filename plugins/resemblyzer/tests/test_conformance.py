"""altlas-resemblyzer passes the SDK's conformance suite with the real encoder."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from altlas_sdk.audio.tasks import SpeakerDiarizationOutput
from altlas_sdk.errors import UnsupportedMediaType
from altlas_sdk.testing import BackendConformance

CLIP = (Path(__file__).parent / "data" / "two-voices.opus").read_bytes()


class TestResemblyzerDiarization(BackendConformance):
    plugin = "resemblyzer"
    model_id = "resemblyzer-diarization"
    valid_inputs: ClassVar[dict[str, Any]] = {"audio": CLIP}
    valid_parameters: ClassVar[dict[str, Any]] = {"num_speakers": 2}
    bad_inputs: ClassVar[dict[str, Any]] = {"audio": b"GIF89a not audio"}
    bad_input_error = UnsupportedMediaType
    heavy_modules = ("torch", "faster_whisper", "scipy", "av", "numpy")
    environ: ClassVar[dict[str, str]] = {"USE_GPU": "false"}

    def check_output(self, output: SpeakerDiarizationOutput) -> None:
        assert output.speakers == ["SPEAKER_00", "SPEAKER_01"] and len(output.segments) == 4
