"""The ``whisper`` backend: faster-whisper (CTranslate2) models.

A model is a CTranslate2 Whisper folder (``model.bin``, ``config.json``, a tokenizer or
vocabulary). ``USE_GPU`` picks CUDA with float16 when CTranslate2 sees a GPU, else CPU
with int8; the entry's options may set ``device``, ``compute_type`` and ``cpu_threads``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    SpeechToTextOutput,
    SpeechToTextParameters,
    TranscriptSegment,
    Word,
)
from altlas_sdk.errors import BackendUnavailable, InvalidInput, InvalidModelFile, WeightsMissing
from altlas_sdk.tasks import SPEECH_TO_TEXT

if TYPE_CHECKING:
    from msgspec import Struct

logger = logging.getLogger(__name__)

#: Whisper hears 16 kHz mono.
SAMPLE_RATE = 16000


def _import_faster_whisper() -> Any:
    try:
        import faster_whisper
    except ImportError:
        raise BackendUnavailable(
            "faster-whisper is not installed: pip install altlas-whisper"
        ) from None
    return faster_whisper


def _is_whisper_folder(path: Path) -> bool:
    config = path / "config.json"
    if not (path / "model.bin").is_file() or not config.is_file():
        return False
    try:
        keys = json.loads(config.read_text())
    except (OSError, ValueError):
        return False
    # Keys CTranslate2 writes for Whisper models and for no other model type.
    return isinstance(keys, dict) and ("lang_ids" in keys or "suppress_ids" in keys)


def choose_device(policy: DevicePolicy, options: dict[str, Any]) -> tuple[str, str]:
    """``(device, compute_type)``: the entry's choice, else CUDA + float16 when allowed
    and present, else CPU + int8."""
    device = options.get("device")
    if device is None:
        import ctranslate2

        device = "cuda" if policy.use_gpu and ctranslate2.get_cuda_device_count() > 0 else "cpu"
    compute_type = options.get("compute_type") or ("float16" if device == "cuda" else "int8")
    return str(device), str(compute_type)


class WhisperBackend(Backend):
    """faster-whisper. One call at a time per model: CTranslate2 already spreads one
    transcription over ``cpu_threads`` cores."""

    name = "whisper"
    tasks = (SPEECH_TO_TEXT,)

    def discover(self, path: Path) -> str | None:
        """A CTranslate2 Whisper folder in MODEL_DIR serves speech-to-text."""
        return SPEECH_TO_TEXT if path.is_dir() and _is_whisper_folder(path) else None

    def estimate_memory(self, spec: ModelSpec, files: ModelFiles) -> MemoryEstimate:
        # int8 on CPU holds about the float16 file's size once loaded (weights are
        # requantized in place), plus the decoder's working buffers: ~1.2x the file.
        return MemoryEstimate(ram_bytes=int(files.size_bytes() * 1.2))

    def load(self, spec: ModelSpec, files: ModelFiles, policy: DevicePolicy) -> LoadedModel:
        faster_whisper = _import_faster_whisper()
        if not files.path.is_dir():
            raise WeightsMissing(
                f"'{files.path}' is not a folder; the whisper backend needs a CTranslate2 "
                "Whisper folder (model.bin, config.json, tokenizer.json or vocabulary)"
            )
        if not _is_whisper_folder(files.path):
            raise InvalidModelFile(
                f"'{files.path}' is not a CTranslate2 Whisper model folder "
                "(model.bin and a Whisper config.json expected)"
            )
        device, compute_type = choose_device(policy, spec.options)
        try:
            model = faster_whisper.WhisperModel(
                str(files.path),
                device=device,
                compute_type=compute_type,
                cpu_threads=int(spec.options.get("cpu_threads", 0)),
                local_files_only=True,
            )
        except (RuntimeError, ValueError, OSError) as error:
            raise InvalidModelFile(
                f"cannot load '{files.path}' with faster-whisper: {error}"
            ) from None
        return WhisperModel(model, Device(device), AudioLimits.from_options(spec.options))


class WhisperModel(LoadedModel):
    """A loaded Whisper model."""

    def __init__(self, model: Any, device: Device, limits: AudioLimits) -> None:
        self.model = model
        self.device = device
        self.limits = limits

    def infer(
        self, task: str, inputs: Struct, parameters: Struct, cancel: CancellationToken
    ) -> Struct:
        assert isinstance(inputs, AudioInput) and isinstance(parameters, SpeechToTextParameters)
        cancel.raise_if_cancelled()
        audio = decode_audio(inputs.audio, sample_rate=SAMPLE_RATE, limits=self.limits)
        return self.transcribe(audio.samples, audio.duration, parameters, cancel)

    def stream(
        self, task: str, inputs: Struct, parameters: Struct, cancel: CancellationToken
    ) -> Iterator[Struct]:
        """One output per segment, as Whisper decodes it: the segment and its text (with
        its leading space, so that the chunks' texts add up to the transcript)."""
        assert isinstance(inputs, AudioInput) and isinstance(parameters, SpeechToTextParameters)
        cancel.raise_if_cancelled()
        audio = decode_audio(inputs.audio, sample_rate=SAMPLE_RATE, limits=self.limits)
        started = self._start(audio.samples, parameters)
        if started is None:
            return
        segments, info = started
        for index, segment in enumerate(segments):
            cancel.raise_if_cancelled()
            yield SpeechToTextOutput(
                text=segment.text,
                language=info.language,
                language_probability=round(float(info.language_probability), 4),
                duration=round(audio.duration, 3),
                segments=[_segment(segment, index)],
            )

    def transcribe(
        self,
        samples: Any,
        duration: float,
        parameters: SpeechToTextParameters,
        cancel: CancellationToken,
    ) -> SpeechToTextOutput:
        """Transcribe 16 kHz mono float samples."""
        started = self._start(samples, parameters)
        if started is None:
            return SpeechToTextOutput(
                text="",
                language=parameters.language.lower() if parameters.language else None,
                language_probability=None,
                duration=duration,
                segments=[],
            )
        segments_iter, info = started
        texts, segments = [], []
        # Segments are decoded lazily: checking between them lets a cancelled request stop.
        for segment in segments_iter:
            cancel.raise_if_cancelled()
            texts.append(segment.text)
            segments.append(_segment(segment, len(segments)))
        return SpeechToTextOutput(
            text="".join(texts).strip(),
            language=info.language,
            language_probability=round(float(info.language_probability), 4),
            duration=round(duration, 3),
            segments=segments,
        )

    def _start(
        self, samples: Any, parameters: SpeechToTextParameters
    ) -> tuple[Iterator[Any], Any] | None:
        """Check the parameters and start decoding: faster-whisper's lazy segment
        iterator and its info, or ``None`` for digital silence."""
        import numpy as np

        language = parameters.language.lower() if parameters.language else None
        if language is not None and language not in self._languages():
            raise InvalidInput(
                f"unknown language '{parameters.language}'; Whisper takes ISO 639-1 codes "
                "such as en, de, fr, es, zh",
                param="$.parameters.language",
            )
        if parameters.task == "translate" and not self.model.model.is_multilingual:
            raise InvalidInput(
                "this Whisper model is English-only and cannot translate",
                param="$.parameters.task",
            )
        # Whisper invents words ("you", "thank you") for digital silence: answer it
        # with an empty transcript instead of running the model.
        peak = float(np.abs(samples).max()) if samples.size else 0.0
        if peak < 1e-3:
            return None
        options: dict[str, Any] = {
            "language": language,
            "task": parameters.task,
            "beam_size": parameters.beam_size,
            "word_timestamps": parameters.word_timestamps,
            "vad_filter": parameters.vad_filter,
            "initial_prompt": parameters.initial_prompt,
        }
        if parameters.temperature is not None:
            options["temperature"] = parameters.temperature
        return self.model.transcribe(samples, **options)

    def _languages(self) -> set[str]:
        return set(self.model.supported_languages)

    def unload(self) -> None:
        del self.model


def _segment(segment: Any, index: int) -> TranscriptSegment:
    # Numbered from 0 in order, as OpenAI numbers them (faster-whisper starts at 1).
    words = None
    if segment.words is not None:
        words = [
            Word(
                word=word.word,
                start=round(float(word.start), 3),
                end=round(float(word.end), 3),
                probability=round(float(word.probability), 4),
            )
            for word in segment.words
        ]
    return TranscriptSegment(
        id=index,
        start=round(float(segment.start), 3),
        end=round(float(segment.end), 3),
        text=segment.text.strip(),
        avg_logprob=round(float(segment.avg_logprob), 4),
        no_speech_prob=round(float(segment.no_speech_prob), 4),
        words=words,
    )
