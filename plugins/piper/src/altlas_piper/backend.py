"""The ``piper`` backend: Piper voices (a VITS ``.onnx`` model and its ``.onnx.json``).

Piper speaks one sentence at a time; :meth:`PiperModel.stream` hands each sentence's
audio over as soon as it is synthesized, so long texts start playing early.
"""

from __future__ import annotations

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
from altlas_sdk.audio.encode import wav_bytes
from altlas_sdk.audio.tasks import TextToSpeechInput, TextToSpeechOutput, TextToSpeechParameters
from altlas_sdk.errors import BackendUnavailable, InvalidInput, InvalidModelFile, WeightsMissing
from altlas_sdk.tasks import TEXT_TO_SPEECH

if TYPE_CHECKING:
    from msgspec import Struct

logger = logging.getLogger(__name__)

#: Characters one request may ask to speak unless the entry's ``max_chars`` says otherwise.
MAX_CHARS = 100_000


def _import_piper() -> Any:
    try:
        import piper
    except ImportError:
        raise BackendUnavailable("piper-tts is not installed: pip install altlas-piper") from None
    return piper


def voice_files(path: Path) -> tuple[Path, Path] | None:
    """``(model, config)`` of a voice: a ``.onnx`` file beside its ``.onnx.json``, or a
    folder holding exactly one such pair; ``None`` otherwise."""
    if path.is_file() and path.name.endswith(".onnx"):
        config = path.with_name(path.name + ".json")
        return (path, config) if config.is_file() else None
    if path.is_dir():
        pairs = [
            (model, model.with_name(model.name + ".json"))
            for model in sorted(path.glob("*.onnx"))
            if model.with_name(model.name + ".json").is_file()
        ]
        return pairs[0] if len(pairs) == 1 else None
    return None


class PiperBackend(Backend):
    """Piper. One synthesis at a time per voice: its ONNX Runtime session already
    uses every core for one sentence."""

    name = "piper"
    tasks = (TEXT_TO_SPEECH,)

    def discover(self, path: Path) -> str | None:
        """A folder in MODEL_DIR holding one voice (``x.onnx`` + ``x.onnx.json``)."""
        return TEXT_TO_SPEECH if path.is_dir() and voice_files(path) else None

    def estimate_memory(self, spec: ModelSpec, files: ModelFiles) -> MemoryEstimate:
        # ONNX Runtime keeps the weights plus an optimized copy of the graph.
        return MemoryEstimate(ram_bytes=2 * files.size_bytes())

    def load(self, spec: ModelSpec, files: ModelFiles, policy: DevicePolicy) -> LoadedModel:
        piper = _import_piper()
        import onnxruntime

        pair = voice_files(files.path)
        config = files.extra.get("config")
        if config is not None and files.path.is_file():
            pair = (files.path, config)
        if pair is None:
            raise WeightsMissing(
                f"'{files.path}' is not a Piper voice: expected a .onnx file with its "
                ".onnx.json config beside it, or a folder holding one such pair"
            )
        # onnxruntime-gpu lists CUDA even without a usable GPU; the session's own
        # providers below say what really runs.
        use_cuda = policy.use_gpu and "CUDAExecutionProvider" in (
            onnxruntime.get_available_providers()
        )
        try:
            voice = piper.PiperVoice.load(str(pair[0]), config_path=str(pair[1]), use_cuda=use_cuda)
        except Exception as error:  # noqa: BLE001 - a bad config or ONNX file, many types
            raise InvalidModelFile(f"cannot load the Piper voice '{pair[0]}': {error}") from None
        providers = voice.session.get_providers()
        device = (
            Device("cuda") if providers and providers[0] == "CUDAExecutionProvider" else Device()
        )
        return PiperModel(voice, device, int(spec.options.get("max_chars", MAX_CHARS)))


class PiperModel(LoadedModel):
    """A loaded Piper voice."""

    def __init__(self, voice: Any, device: Device, max_chars: int) -> None:
        self.voice = voice
        self.device = device
        self.max_chars = max_chars
        self.sample_rate = int(voice.config.sample_rate)

    def infer(
        self, task: str, inputs: Struct, parameters: Struct, cancel: CancellationToken
    ) -> Struct:
        assert isinstance(parameters, TextToSpeechParameters)
        pcm = b"".join(self.sentences(inputs, parameters, cancel))
        audio_format = "pcm" if parameters.response_format == "pcm" else "wav"
        return TextToSpeechOutput(
            audio=pcm if audio_format == "pcm" else wav_bytes(pcm, self.sample_rate),
            format=audio_format,
            sample_rate=self.sample_rate,
            channels=1,
            duration=round(len(pcm) / 2 / self.sample_rate, 3),
        )

    def stream(
        self, task: str, inputs: Struct, parameters: Struct, cancel: CancellationToken
    ) -> Iterator[Struct]:
        """One raw PCM chunk per sentence, as soon as it is synthesized."""
        for pcm in self.sentences(inputs, parameters, cancel):
            yield TextToSpeechOutput(
                audio=pcm,
                format="pcm",
                sample_rate=self.sample_rate,
                channels=1,
                duration=round(len(pcm) / 2 / self.sample_rate, 3),
            )

    def sentences(
        self, inputs: Struct, parameters: Struct, cancel: CancellationToken
    ) -> Iterator[bytes]:
        """16-bit PCM of each sentence in turn, each followed by ``sentence_silence``."""
        piper = _import_piper()
        assert isinstance(inputs, TextToSpeechInput)
        assert isinstance(parameters, TextToSpeechParameters)
        cancel.raise_if_cancelled()
        text = inputs.text.strip()
        if not text:
            raise InvalidInput("the text is blank: nothing to speak", param="$.inputs.text")
        if len(text) > self.max_chars:
            raise InvalidInput(
                f"the text is {len(text)} characters; this voice speaks at most "
                f"{self.max_chars} per request",
                param="$.inputs.text",
            )
        config = piper.SynthesisConfig(
            speaker_id=self._speaker_id(parameters),
            length_scale=parameters.length_scale,
            noise_scale=parameters.noise_scale,
            noise_w_scale=parameters.noise_w_scale,
            volume=parameters.volume,
        )
        silence = b"\0\0" * int(parameters.sentence_silence * self.sample_rate)
        spoken = False
        for chunk in self.voice.synthesize(text, syn_config=config):
            cancel.raise_if_cancelled()
            spoken = True
            yield chunk.audio_int16_bytes + silence
        if not spoken:
            raise InvalidInput(
                "the text has nothing this voice can pronounce", param="$.inputs.text"
            )

    def _speaker_id(self, parameters: TextToSpeechParameters) -> int | None:
        speakers = self.voice.config.num_speakers
        if parameters.speaker is not None:
            names = self.voice.config.speaker_id_map
            if parameters.speaker not in names:
                known = ", ".join(sorted(names)) or "none: this voice has one speaker"
                raise InvalidInput(
                    f"unknown speaker '{parameters.speaker}'; speakers: {known}",
                    param="$.parameters.speaker",
                )
            return int(names[parameters.speaker])
        if parameters.speaker_id is not None and parameters.speaker_id >= speakers:
            raise InvalidInput(
                f"speaker_id {parameters.speaker_id} is out of range: this voice has "
                f"{speakers} speaker(s), ids 0 to {speakers - 1}",
                param="$.parameters.speaker_id",
            )
        if speakers <= 1:
            return None
        return parameters.speaker_id

    def unload(self) -> None:
        del self.voice
