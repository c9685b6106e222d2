"""The design document's in-process audio API: ``get_audio_model_manager()``.

::

    audio = get_audio_model_manager()
    await audio.load_model("whisper-base", "whisper")
    result = await audio.transcribe_audio(audio_data=wav, model_id="whisper-base", language="en")
    print(result.text, result.language)

A thin layer over the runtime's model manager and inference service, generic over every
plugin serving an audio task: a call is the same request the HTTP routes run (same
model selection, queues, limits and errors), and returns the task's typed output Struct
(:mod:`altlas_sdk.audio.tasks`).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from altlas.facades.vision import _configured
from altlas_sdk import ModelSpec
from altlas_sdk.audio.attribution import attribute_speakers
from altlas_sdk.audio.tasks import (
    AudioClassificationOutput,
    SpeakerDiarizationOutput,
    SpeechToTextOutput,
    TextToSpeechOutput,
)
from altlas_sdk.errors import BadRequest, ValidationFailed
from altlas_sdk.tasks import (
    AUDIO_CLASSIFICATION,
    SPEAKER_DIARIZATION,
    SPEECH_TO_TEXT,
    TEXT_TO_SPEECH,
)
from altlas_sdk.wire import InferenceRequest, ModelStatus

if TYPE_CHECKING:
    from altlas.runtime import Runtime

#: The audio task ids.
AUDIO_TASK_IDS = (SPEECH_TO_TEXT, TEXT_TO_SPEECH, AUDIO_CLASSIFICATION, SPEAKER_DIARIZATION)

#: Audio: the bytes of a file in any container (WAV, FLAC, MP3, OGG, M4A...) or its path.
AudioData = bytes | bytearray | memoryview | str | os.PathLike


class AudioModelManager:
    """Audio models in-process: load and unload them, and run the audio tasks.

    Every method is a coroutine, to be awaited on the event loop the runtime serves on
    (or under ``asyncio.run`` in a script).
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def list_models(self, task: str | None = None) -> list[ModelSpec]:
        """Catalog entries serving ``task``, or any audio task when omitted."""
        tasks = (task,) if task is not None else AUDIO_TASK_IDS
        return [
            entry.spec
            for entry in self.runtime.catalog
            if any(name in entry.spec.tasks for name in tasks)
        ]

    async def load_model(
        self,
        model_id: str,
        kind: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> ModelStatus:
        """Load a catalog model; returns once it is loaded.

        ``kind`` is the backend the caller expects (``"whisper"``, ``"piper"``...): a
        model run by another backend is refused rather than silently used. ``config``
        changes the entry before it loads: catalog fields (``source``, ``files``,
        ``options``...) by name, any other key as a backend option
        (``{"compute_type": "int8"}``).
        """
        entry = self.runtime.catalog.get(model_id)
        if kind is not None and entry.spec.backend != kind:
            raise BadRequest(
                f"model '{model_id}' runs on the '{entry.spec.backend}' backend, not '{kind}'",
                param="kind",
            )
        if config:
            self.runtime.catalog.replace(_configured(entry.spec, config))
        return await self.runtime.models.load_model(model_id)

    async def unload_model(self, model_id: str) -> ModelStatus:
        """Unload a model."""
        return await self.runtime.models.unload_model(model_id)

    async def transcribe_audio(
        self,
        audio_data: AudioData,
        model_id: str | None = None,
        language: str | None = None,
        **parameters: Any,
    ) -> SpeechToTextOutput:
        """The speech in the audio as text: ``language`` (``None`` detects it),
        ``word_timestamps``, ``vad_filter``, ``beam_size``, ``temperature``,
        ``initial_prompt``, ``task`` (``"translate"`` for English)."""
        if language is not None:
            parameters["language"] = language
        return await self._run(
            SPEECH_TO_TEXT, {"audio": _audio_bytes(audio_data)}, model_id, parameters
        )

    async def translate_audio(
        self, audio_data: AudioData, model_id: str | None = None, **parameters: Any
    ) -> SpeechToTextOutput:
        """The speech in the audio as English text."""
        return await self.transcribe_audio(audio_data, model_id, task="translate", **parameters)

    async def synthesize_speech(
        self, text: str, model_id: str | None = None, **parameters: Any
    ) -> TextToSpeechOutput:
        """``text`` spoken: a WAV file (``response_format="pcm"`` for raw samples);
        ``speaker_id``/``speaker``, ``length_scale``, ``noise_scale``,
        ``noise_w_scale``, ``sentence_silence``, ``volume``."""
        if parameters.get("response_format", "json") == "json":
            parameters["response_format"] = "wav"
        return await self._run(TEXT_TO_SPEECH, {"text": text}, model_id, parameters)

    async def classify_audio(
        self, audio_data: AudioData, model_id: str | None = None, **parameters: Any
    ) -> AudioClassificationOutput:
        """The sounds in the audio: ``top_k``, ``frames``, ``threshold``."""
        return await self._run(
            AUDIO_CLASSIFICATION, {"audio": _audio_bytes(audio_data)}, model_id, parameters
        )

    async def diarize_speakers(
        self, audio_data: AudioData, model_id: str | None = None, **parameters: Any
    ) -> SpeakerDiarizationOutput:
        """Who spoke when: ``num_speakers``, or ``min_speakers``/``max_speakers``."""
        return await self._run(
            SPEAKER_DIARIZATION, {"audio": _audio_bytes(audio_data)}, model_id, parameters
        )

    async def transcribe_with_speakers(
        self,
        audio_data: AudioData,
        model_id: str | None = None,
        diarization_model_id: str | None = None,
        language: str | None = None,
        num_speakers: int | None = None,
        **parameters: Any,
    ) -> SpeechToTextOutput:
        """A transcript whose segments name their speaker: transcription and diarization
        of the same audio (run side by side), each segment given the speaker whose turns
        overlap it most."""
        data = _audio_bytes(audio_data)
        diarization_parameters = {"num_speakers": num_speakers} if num_speakers else {}
        transcript, diarization = await asyncio.gather(
            self.transcribe_audio(data, model_id, language, **parameters),
            self.diarize_speakers(data, diarization_model_id, **diarization_parameters),
        )
        return attribute_speakers(transcript, diarization.segments)

    async def _run(
        self, task: str, inputs: dict[str, Any], model_id: str | None, parameters: dict[str, Any]
    ) -> Any:
        request = InferenceRequest(model_id=model_id, inputs=inputs, parameters=parameters)
        response = await self.runtime.inference.run_inference(request, task=task)
        return response.outputs


def _audio_bytes(audio_data: AudioData) -> bytes:
    if isinstance(audio_data, (bytes, bytearray, memoryview)):
        return bytes(audio_data)
    if isinstance(audio_data, (str, os.PathLike)):
        path = Path(audio_data)
        if not path.is_file():
            raise ValidationFailed(f"no audio file at '{path}'", param="audio_data")
        return path.read_bytes()
    raise ValidationFailed(
        f"audio_data must be bytes or a file path, not {type(audio_data).__name__}",
        param="audio_data",
    )
