"""altlas-piper passes the SDK's conformance suite with the real en_US-joe-medium voice."""

from __future__ import annotations

from typing import Any, ClassVar

from altlas_sdk.audio.tasks import TextToSpeechOutput
from altlas_sdk.errors import InvalidInput
from altlas_sdk.testing import BackendConformance


class TestJoeMedium(BackendConformance):
    plugin = "piper"
    model_id = "piper-en-us-joe-medium"
    valid_inputs: ClassVar[dict[str, Any]] = {"text": "Hello there."}
    valid_parameters: ClassVar[dict[str, Any]] = {"response_format": "json"}
    bad_inputs: ClassVar[dict[str, Any]] = {"text": "   "}
    bad_input_error = InvalidInput
    # A long text: cancelled between its sentences.
    slow_inputs: ClassVar[dict[str, Any]] = {"text": "This sentence is spoken again. " * 60}
    heavy_modules = ("piper", "onnxruntime", "numpy")
    environ: ClassVar[dict[str, str]] = {"USE_GPU": "false"}

    def check_output(self, output: TextToSpeechOutput) -> None:
        assert output.format == "wav" and output.sample_rate == 22050 and output.duration > 0.3
