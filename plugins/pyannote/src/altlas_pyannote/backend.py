"""The ``pyannote`` backend: pyannote.audio speaker-diarization pipelines.

A model is a pipeline folder (``config.yaml`` naming the pipeline class and its
``$model/...`` subfolders), loaded with pyannote's own ``Pipeline.from_pretrained``,
only for an entry with ``trust_pickled_weights = true``: pyannote unpickles its
checkpoints unrestricted (:mod:`altlas_pyannote.trust`).
Audio reaches the pipeline as an in-memory waveform (decoded by the SDK), so FFmpeg and
torchcodec's decoding are never needed. pyannote's telemetry is turned off before it is
imported.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from altlas_pyannote.trust import check_pipeline
from altlas_sdk import (
    Backend,
    CancellationToken,
    Device,
    DevicePolicy,
    LoadedModel,
    MemoryEstimate,
    ModelFiles,
    ModelSpec,
)
from altlas_sdk.audio.decode import AudioLimits, decode_audio
from altlas_sdk.audio.tasks import (
    AudioInput,
    SpeakerDiarizationOutput,
    SpeakerDiarizationParameters,
    SpeakerTurn,
)
from altlas_sdk.errors import BackendUnavailable, InvalidInput, InvalidModelFile
from altlas_sdk.tasks import SPEAKER_DIARIZATION

if TYPE_CHECKING:
    from msgspec import Struct

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
TELEMETRY_ENV = "PYANNOTE_METRICS_ENABLED"


def _import_pyannote() -> Any:
    # Off before the import: pyannote.audio 4 reads it when it sets up telemetry.
    os.environ[TELEMETRY_ENV] = "false"
    try:
        with warnings.catch_warnings():
            # Its file decoding (torchcodec) needs FFmpeg's libraries; this backend only
            # passes in-memory waveforms, so the import-time warning does not apply.
            warnings.filterwarnings("ignore", message=r"\s*torchcodec is not installed")
            from pyannote.audio import Pipeline
    except ImportError:
        raise BackendUnavailable(
            "pyannote.audio is not installed: pip install altlas-pyannote"
        ) from None
    return Pipeline


def _is_diarization_pipeline(path: Path) -> bool:
    config = path / "config.yaml"
    if not config.is_file():
        return False
    try:
        text = config.read_text(encoding="utf-8")
    except OSError:
        return False
    return "SpeakerDiarization" in text


class PyannoteBackend(Backend):
    """pyannote.audio pipelines. One call at a time: a pipeline is not thread-safe."""

    name = "pyannote"
    tasks = (SPEAKER_DIARIZATION,)

    def discover(self, path: Path) -> str | None:
        """A pyannote speaker-diarization pipeline folder in MODEL_DIR."""
        return SPEAKER_DIARIZATION if path.is_dir() and _is_diarization_pipeline(path) else None

    def estimate_memory(self, spec: ModelSpec, files: ModelFiles) -> MemoryEstimate:
        # The checkpoints as float32 tensors, plus torch's working memory for a batch.
        return MemoryEstimate(ram_bytes=2 * files.size_bytes() + 200 * 1024 * 1024)

    def load(self, spec: ModelSpec, files: ModelFiles, policy: DevicePolicy) -> LoadedModel:
        pipeline_class = _import_pyannote()
        import torch

        if not _is_diarization_pipeline(files.path):
            raise InvalidModelFile(
                f"'{files.path.name}' is not a pyannote speaker-diarization pipeline folder "
                "(config.yaml naming SpeakerDiarization expected)"
            )
        check_pipeline(spec, files.path, files.path / "config.yaml")
        try:
            pipeline = pipeline_class.from_pretrained(str(files.path))
        except Exception as error:  # noqa: BLE001 - yaml, torch and pyannote errors alike
            raise InvalidModelFile(
                f"cannot load the pyannote pipeline '{files.path.name}': {error}"
            ) from None
        if pipeline is None:
            raise InvalidModelFile(f"pyannote found no pipeline in '{files.path.name}'")
        device = Device()
        if policy.use_gpu and torch.cuda.is_available():
            pipeline.to(torch.device("cuda"))
            device = Device("cuda")
        return PyannoteModel(pipeline, device, AudioLimits.from_options(spec.options))


class PyannoteModel(LoadedModel):
    """A loaded pyannote pipeline."""

    def __init__(self, pipeline: Any, device: Device, limits: AudioLimits) -> None:
        self.pipeline = pipeline
        self.device = device
        self.limits = limits

    def infer(
        self, task: str, inputs: Struct, parameters: Struct, cancel: CancellationToken
    ) -> Struct:
        import torch

        assert isinstance(inputs, AudioInput)
        assert isinstance(parameters, SpeakerDiarizationParameters)
        cancel.raise_if_cancelled()
        low, high = parameters.min_speakers, parameters.max_speakers
        if low is not None and high is not None and low > high:
            raise InvalidInput(
                f"min_speakers ({low}) is more than max_speakers ({high})",
                param="$.parameters.min_speakers",
            )
        audio = decode_audio(inputs.audio, sample_rate=SAMPLE_RATE, limits=self.limits)
        duration = round(audio.duration, 3)
        if audio.is_silent():
            return SpeakerDiarizationOutput(segments=[], speakers=[], duration=duration)
        counts = {
            name: value
            for name, value in (
                ("num_speakers", parameters.num_speakers),
                ("min_speakers", low),
                ("max_speakers", high),
            )
            if value is not None
        }
        waveform = {
            "waveform": torch.from_numpy(audio.samples[None, :]),
            "sample_rate": SAMPLE_RATE,
        }
        cancel.raise_if_cancelled()
        result = self.pipeline(waveform, **counts)
        # pyannote.audio 4 returns a DiarizeOutput; 3.x the annotation itself.
        annotation = getattr(result, "speaker_diarization", result)
        turns = sorted(
            (
                (float(segment.start), float(segment.end), str(label))
                for segment, _, label in annotation.itertracks(yield_label=True)
            ),
        )
        speakers: list[str] = []
        for _, _, label in turns:
            if label not in speakers:
                speakers.append(label)
        return SpeakerDiarizationOutput(
            segments=[
                SpeakerTurn(speaker=label, start=round(start, 3), end=round(min(end, duration), 3))
                for start, end, label in turns
            ],
            speakers=speakers,
            duration=duration,
        )

    def unload(self) -> None:
        del self.pipeline
