"""The audio tasks: their input, parameters and output Structs, and their task specs.

The core registers :data:`AUDIO_TASKS`; plugins serve these task ids and never register
them. Audio travels as ``bytes``: a multipart file part named ``audio`` on the task
routes, a base64 string in JSON.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import Meta, Struct

from altlas_sdk.tasks import (
    AUDIO_CLASSIFICATION,
    SPEAKER_DIARIZATION,
    SPEECH_TO_TEXT,
    TEXT_TO_SPEECH,
    TaskSpec,
)

#: The input field a multipart upload fills on the audio routes.
AUDIO_FIELD = "audio"

Seconds = Annotated[float, Meta(ge=0)]
Probability = Annotated[float, Meta(ge=0, le=1)]


def _audio_shorthand(raw: Any) -> Any:
    # A bare base64 string stands for {"audio": "<base64>"}.
    return {AUDIO_FIELD: raw} if isinstance(raw, str) else raw


class AudioInput(Struct, kw_only=True, forbid_unknown_fields=True):
    """An audio file in any container and codec (WAV, FLAC, MP3, OGG/Opus, M4A...), at
    any sample rate and channel count. On the wire ``inputs`` may be the bare base64
    string."""

    audio: bytes


def _text_shorthand(raw: Any) -> Any:
    return {"text": raw} if isinstance(raw, str) else raw


# --- speech-to-text -------------------------------------------------------------------


class SpeechToTextParameters(Struct, kw_only=True, forbid_unknown_fields=True):
    """How to transcribe.

    - ``language``: an ISO 639-1 code (``en``); ``None`` detects it.
    - ``task``: ``transcribe`` keeps the spoken language, ``translate`` gives English.
    - ``word_timestamps``: also time each word.
    - ``vad_filter``: skip non-speech parts found by voice activity detection first.
    - ``beam_size``, ``temperature`` (``None``: the model's fallback schedule),
      ``initial_prompt`` (vocabulary or style to expect).
    """

    language: Annotated[str, Meta(min_length=2, max_length=8)] | None = None
    task: Literal["transcribe", "translate"] = "transcribe"
    word_timestamps: bool = False
    vad_filter: bool = False
    beam_size: Annotated[int, Meta(ge=1, le=20)] = 5
    temperature: Annotated[float, Meta(ge=0, le=1)] | None = None
    initial_prompt: str | None = None


class Word(Struct, kw_only=True):
    """One word with its time span in seconds and its probability."""

    word: str
    start: float
    end: float
    probability: float


class TranscriptSegment(Struct, kw_only=True, omit_defaults=True):
    """A span of the transcript; ``words`` only with ``word_timestamps``."""

    id: int
    start: float
    end: float
    text: str
    avg_logprob: float | None = None
    no_speech_prob: float | None = None
    words: list[Word] | None = None
    speaker: str | None = None


class SpeechToTextOutput(Struct, kw_only=True):
    """The transcript: the whole text, its segments, the language (given or detected,
    with the detector's probability) and the audio's duration in seconds. Silence gives
    an empty ``text`` and no segments."""

    text: str
    language: str | None
    language_probability: float | None
    duration: float
    segments: list[TranscriptSegment]


# --- text-to-speech -------------------------------------------------------------------


class TextToSpeechInput(Struct, kw_only=True, forbid_unknown_fields=True):
    """Text to speak. On the wire ``inputs`` may be the bare string."""

    text: Annotated[str, Meta(min_length=1)]


AudioFormat = Literal["wav", "pcm", "json"]


class TextToSpeechParameters(Struct, kw_only=True, forbid_unknown_fields=True):
    """How to speak.

    - ``speaker_id``: the speaker of a multi-speaker voice; ``speaker`` names one instead.
    - ``length_scale`` (> 1 is slower), ``noise_scale``, ``noise_w_scale``: the
      voice's own defaults when ``None``.
    - ``sentence_silence``: seconds of silence after each sentence.
    - ``volume``: a gain on the samples.
    - ``response_format``: ``wav`` (a WAV file) or ``pcm`` (raw 16-bit little-endian
      mono at the voice's rate) answer with the audio bytes; ``json`` answers the output
      Struct with the WAV in base64.
    """

    speaker_id: Annotated[int, Meta(ge=0)] | None = None
    speaker: str | None = None
    length_scale: Annotated[float, Meta(gt=0, le=10)] | None = None
    noise_scale: Annotated[float, Meta(ge=0, le=10)] | None = None
    noise_w_scale: Annotated[float, Meta(ge=0, le=10)] | None = None
    sentence_silence: Annotated[float, Meta(ge=0, le=10)] = 0.0
    volume: Annotated[float, Meta(gt=0, le=10)] = 1.0
    response_format: AudioFormat = "wav"


class TextToSpeechOutput(Struct, kw_only=True):
    """Synthesized speech: ``audio`` in ``format`` (``wav`` or ``pcm``: 16-bit
    little-endian), its sample rate, channel count and duration in seconds."""

    audio: bytes
    format: Literal["wav", "pcm"]
    sample_rate: int
    channels: int
    duration: float


AUDIO_MEDIA_TYPES = {"wav": "audio/wav", "pcm": "audio/pcm"}


def render_speech(output: Any, parameters: Any) -> tuple[bytes, str] | None:
    """Answer a text-to-speech route with the audio itself unless JSON was asked for."""
    if parameters.response_format == "json":
        return None
    return output.audio, AUDIO_MEDIA_TYPES[output.format]


# --- audio-classification -------------------------------------------------------------


class AudioClassificationParameters(Struct, kw_only=True, forbid_unknown_fields=True):
    """``top_k``: labels per clip (and per frame); ``frames``: also label each frame;
    ``threshold``: the score a label needs to count as an event."""

    top_k: Annotated[int, Meta(ge=1, le=1000)] = 5
    frames: bool = False
    threshold: Probability = 0.5


class AudioLabel(Struct, kw_only=True):
    """A class and its score (0-1)."""

    label: str
    score: float


class AudioFrame(Struct, kw_only=True):
    """The top labels of one frame (a window of the clip, in seconds)."""

    start: float
    end: float
    labels: list[AudioLabel]


class AudioEvent(Struct, kw_only=True):
    """A stretch of the clip where ``label`` scored at least the threshold."""

    label: str
    start: float
    end: float
    score: float


class AudioClassificationOutput(Struct, kw_only=True):
    """The clip's top labels, best first; per-frame labels when asked for; events
    (labelled time spans) where the model detects them."""

    labels: list[AudioLabel]
    duration: float
    frames: list[AudioFrame] | None = None
    events: list[AudioEvent] | None = None


# --- speaker-diarization --------------------------------------------------------------


class SpeakerDiarizationParameters(Struct, kw_only=True, forbid_unknown_fields=True):
    """``num_speakers`` when known (the most reliable); otherwise the count is chosen
    between ``min_speakers`` and ``max_speakers``."""

    num_speakers: Annotated[int, Meta(ge=1, le=64)] | None = None
    min_speakers: Annotated[int, Meta(ge=1, le=64)] | None = None
    max_speakers: Annotated[int, Meta(ge=1, le=64)] | None = None


class SpeakerTurn(Struct, kw_only=True):
    """``speaker`` talks from ``start`` to ``end`` (seconds)."""

    speaker: str
    start: float
    end: float


class SpeakerDiarizationOutput(Struct, kw_only=True):
    """Who spoke when: speaker turns in time order, and the speakers' labels
    (``SPEAKER_00``, ``SPEAKER_01``... in order of first appearance)."""

    segments: list[SpeakerTurn]
    speakers: list[str]
    duration: float


#: The audio task specs, which the core registers.
AUDIO_TASKS: tuple[TaskSpec, ...] = (
    TaskSpec(
        SPEECH_TO_TEXT,
        AudioInput,
        SpeechToTextOutput,
        SpeechToTextParameters,
        "Transcribe (or translate to English) speech in an audio file.",
        _audio_shorthand,
        media_field=AUDIO_FIELD,
    ),
    TaskSpec(
        TEXT_TO_SPEECH,
        TextToSpeechInput,
        TextToSpeechOutput,
        TextToSpeechParameters,
        "Speak a text: WAV or raw PCM.",
        _text_shorthand,
        render=render_speech,
    ),
    TaskSpec(
        AUDIO_CLASSIFICATION,
        AudioInput,
        AudioClassificationOutput,
        AudioClassificationParameters,
        "Label the sounds of an audio file (speech, music, 521 AudioSet classes...).",
        _audio_shorthand,
        media_field=AUDIO_FIELD,
    ),
    TaskSpec(
        SPEAKER_DIARIZATION,
        AudioInput,
        SpeakerDiarizationOutput,
        SpeakerDiarizationParameters,
        "Who spoke when: speaker turns with speaker labels.",
        _audio_shorthand,
        media_field=AUDIO_FIELD,
    ),
)
