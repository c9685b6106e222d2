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
from typing import Any

from altlas.facades.tasks import MediaData, TaskFacade, media_bytes
from altlas_sdk.audio.attribution import attribute_speakers
from altlas_sdk.audio.tasks import (
    AudioClassificationOutput,
    SpeakerDiarizationOutput,
    SpeechToTextOutput,
    TextToSpeechOutput,
)
from altlas_sdk.tasks import (
    AUDIO_CLASSIFICATION,
    SPEAKER_DIARIZATION,
    SPEECH_TO_TEXT,
    TEXT_TO_SPEECH,
)

#: The audio task ids.
AUDIO_TASK_IDS = (SPEECH_TO_TEXT, TEXT_TO_SPEECH, AUDIO_CLASSIFICATION, SPEAKER_DIARIZATION)

#: Audio: the bytes of a file in any container (WAV, FLAC, MP3, OGG, M4A...) or its path.
AudioData = MediaData


class AudioModelManager(TaskFacade):
    """Audio models in-process: load and unload them, and run the audio tasks."""

    task_ids = AUDIO_TASK_IDS

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
            SPEECH_TO_TEXT, {"audio": media_bytes(audio_data, "audio")}, model_id, parameters
        )

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
            AUDIO_CLASSIFICATION, {"audio": media_bytes(audio_data, "audio")}, model_id, parameters
        )

    async def diarize_speakers(
        self, audio_data: AudioData, model_id: str | None = None, **parameters: Any
    ) -> SpeakerDiarizationOutput:
        """Who spoke when: ``num_speakers``, or ``min_speakers``/``max_speakers``."""
        return await self._run(
            SPEAKER_DIARIZATION, {"audio": media_bytes(audio_data, "audio")}, model_id, parameters
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
        data = media_bytes(audio_data, "audio")
        diarization_parameters = {"num_speakers": num_speakers} if num_speakers else {}
        transcript, diarization = await asyncio.gather(
            self.transcribe_audio(data, model_id, language, **parameters),
            self.diarize_speakers(data, diarization_model_id, **diarization_parameters),
        )
        return attribute_speakers(transcript, diarization.segments)
