"""The ``resemblyzer`` backend: offline speaker diarization in three steps.

1. Voice activity: Silero VAD (the ONNX model faster-whisper bundles) finds speech.
2. Speaker embeddings: Resemblyzer's GE2E encoder embeds 1.6 s windows of each speech
   region, every 0.4 s.
3. Clustering: average-linkage on cosine distance groups the windows into speakers
   (``num_speakers`` when given, else a distance threshold within ``min_speakers`` and
   ``max_speakers``); each window speaks for the 0.4 s around its centre, and runs of one
   speaker become turns.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from altlas_resemblyzer import clustering, encoder, features
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
from altlas_sdk.errors import BackendUnavailable, InvalidInput
from altlas_sdk.tasks import SPEAKER_DIARIZATION

if TYPE_CHECKING:
    import numpy as np
    from msgspec import Struct

SAMPLE_RATE = features.SAMPLE_RATE
FRAME_S = features.HOP / SAMPLE_RATE
#: Frames between the starts of two embedded windows (0.4 s).
STEP_FRAMES = 40
#: Windows embedded per forward pass: bounds memory on long recordings.
BATCH = 64
#: A turn shorter than this (seconds) inside a speech region is a clustering flicker:
#: it joins its longer neighbour.
MIN_TURN_S = 0.5


def _import_vad() -> Any:
    try:
        from faster_whisper import vad
    except ImportError:
        raise BackendUnavailable(
            "faster-whisper (for its Silero VAD) is not installed: pip install altlas-resemblyzer"
        ) from None
    return vad


@dataclass
class _Window:
    region: int
    start: float  # seconds: the span this window speaks for
    end: float


class ResemblyzerBackend(Backend):
    """Silero VAD + Resemblyzer + clustering. One call at a time: torch already uses
    every core for one recording."""

    name = "resemblyzer"
    tasks = (SPEAKER_DIARIZATION,)

    def estimate_memory(self, spec: ModelSpec, files: ModelFiles) -> MemoryEstimate:
        # The 17 MB checkpoint as float32 tensors, plus Silero VAD's small session.
        return MemoryEstimate(ram_bytes=files.size_bytes() + 30 * 1024 * 1024)

    def load(self, spec: ModelSpec, files: ModelFiles, policy: DevicePolicy) -> LoadedModel:
        torch = encoder._import_torch()
        vad = _import_vad()
        device = "cuda" if policy.use_gpu and torch.cuda.is_available() else "cpu"
        model = encoder.load_encoder(files.path, device)
        return DiarizationModel(
            model,
            vad,
            device,
            AudioLimits.from_options(spec.options),
            float(spec.options.get("cluster_threshold", clustering.DEFAULT_THRESHOLD)),
        )


class DiarizationModel(LoadedModel):
    """VAD, encoder and clustering, ready to diarize."""

    def __init__(
        self, model: Any, vad: Any, device: str, limits: AudioLimits, threshold: float
    ) -> None:
        self.model = model
        self.vad = vad
        self.torch_device = device
        self.device = Device("cuda") if device == "cuda" else Device()
        self.limits = limits
        self.threshold = threshold
        self.filterbank = features.mel_filterbank()

    def infer(
        self, task: str, inputs: Struct, parameters: Struct, cancel: CancellationToken
    ) -> Struct:
        assert isinstance(inputs, AudioInput)
        assert isinstance(parameters, SpeakerDiarizationParameters)
        _check_counts(parameters)
        cancel.raise_if_cancelled()
        audio = decode_audio(inputs.audio, sample_rate=SAMPLE_RATE, limits=self.limits)
        duration = round(audio.duration, 3)
        regions = [] if audio.is_silent() else self.speech_regions(audio.samples)
        if not regions:
            return SpeakerDiarizationOutput(segments=[], speakers=[], duration=duration)
        windows, spans = self.windows(audio.samples, regions)
        embeddings = self.embed(windows, cancel)
        labels = clustering.cluster(
            embeddings,
            num_speakers=parameters.num_speakers,
            min_speakers=parameters.min_speakers,
            max_speakers=parameters.max_speakers,
            threshold=self.threshold,
        )
        turns = _turns(spans, [int(label) for label in labels])
        names = [f"SPEAKER_{index:02d}" for index in range(int(labels.max()) + 1)]
        return SpeakerDiarizationOutput(
            segments=[
                SpeakerTurn(speaker=names[label], start=round(start, 3), end=round(end, 3))
                for label, start, end in turns
            ],
            speakers=[name for index, name in enumerate(names) if index in set(labels)],
            duration=duration,
        )

    def speech_regions(self, samples: np.ndarray) -> list[tuple[int, int]]:
        """Speech spans, in samples."""
        options = self.vad.VadOptions(
            min_silence_duration_ms=300, speech_pad_ms=30, min_speech_duration_ms=250
        )
        found = self.vad.get_speech_timestamps(samples, options, sampling_rate=SAMPLE_RATE)
        return [(int(span["start"]), int(span["end"])) for span in found]

    def windows(
        self, samples: np.ndarray, regions: list[tuple[int, int]]
    ) -> tuple[np.ndarray, list[_Window]]:
        """Mel windows of every region (``(n, 160, 40)``) and the span each speaks for:
        the 0.4 s around its centre, the first and last stretched to the region's ends."""
        import numpy as np

        size = encoder.WINDOW_FRAMES
        windows, spans = [], []
        for index, (first, last) in enumerate(regions):
            mel = features.mel_frames(samples[first:last], self.filterbank)
            if len(mel) < size:
                mel = np.pad(mel, ((0, size - len(mel)), (0, 0)))
            starts = list(range(0, len(mel) - size + 1, STEP_FRAMES))
            if starts[-1] + size < len(mel):
                starts.append(len(mel) - size)  # the region's tail gets a window too
            begin, end = first / SAMPLE_RATE, last / SAMPLE_RATE
            centres = [begin + (s + size / 2) * FRAME_S for s in starts]
            bounds = [begin, *((a + b) / 2 for a, b in itertools.pairwise(centres)), end]
            for position, start in enumerate(starts):
                windows.append(mel[start : start + size])
                spans.append(_Window(index, bounds[position], bounds[position + 1]))
        return np.stack(windows), spans

    def embed(self, windows: np.ndarray, cancel: CancellationToken) -> np.ndarray:
        """One embedding per window, in batches."""
        import numpy as np

        parts = []
        for start in range(0, len(windows), BATCH):
            cancel.raise_if_cancelled()
            parts.append(
                encoder.embed(self.model, windows[start : start + BATCH], self.torch_device)
            )
        return np.concatenate(parts)

    def unload(self) -> None:
        del self.model


def _check_counts(parameters: SpeakerDiarizationParameters) -> None:
    low, high, exact = parameters.min_speakers, parameters.max_speakers, parameters.num_speakers
    if low is not None and high is not None and low > high:
        raise InvalidInput(
            f"min_speakers ({low}) is more than max_speakers ({high})",
            param="$.parameters.min_speakers",
        )
    if exact is not None and (
        (low is not None and exact < low) or (high is not None and exact > high)
    ):
        raise InvalidInput(
            f"num_speakers ({exact}) is outside min_speakers..max_speakers",
            param="$.parameters.num_speakers",
        )


def _turns(spans: list[_Window], labels: list[int]) -> list[tuple[int, float, float]]:
    """Runs of one speaker within each speech region, short flickers absorbed."""
    turns: list[tuple[int, float, float]] = []
    for region in sorted({span.region for span in spans}):
        runs: list[list[Any]] = []
        for span, label in zip(spans, labels, strict=True):
            if span.region != region:
                continue
            if runs and runs[-1][0] == label:
                runs[-1][2] = span.end
            else:
                runs.append([label, span.start, span.end])
        changed = True
        while changed and len(runs) > 1:
            changed = False
            for position, (_, start, end) in enumerate(runs):
                if end - start >= MIN_TURN_S:
                    continue
                before = runs[position - 1] if position > 0 else None
                after = runs[position + 1] if position + 1 < len(runs) else None
                longer = max(
                    (run for run in (before, after) if run is not None),
                    key=lambda run: run[2] - run[1],
                )
                longer[1], longer[2] = min(longer[1], start), max(longer[2], end)
                del runs[position]
                runs = _merge_adjacent(runs)
                changed = True
                break
        turns.extend((label, start, end) for label, start, end in runs)
    return turns


def _merge_adjacent(runs: list[list[Any]]) -> list[list[Any]]:
    merged: list[list[Any]] = []
    for run in runs:
        if merged and merged[-1][0] == run[0]:
            merged[-1][2] = run[2]
        else:
            merged.append(run)
    return merged
