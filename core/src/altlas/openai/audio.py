"""OpenAI's audio objects and their translation from the service's audio tasks.

``POST /v1/audio/transcriptions`` and ``/v1/audio/translations`` answer a transcript in
one of five ``response_format``\\ s (``json``, ``text``, ``srt``, ``vtt``,
``verbose_json``); ``POST /v1/audio/speech`` takes :class:`SpeechRequest`. Model names
of OpenAI's own (``whisper-1``, ``tts-1``...) stand for the task's default model, so
clients written for OpenAI work unchanged.
"""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta, Struct

from altlas_sdk.audio.tasks import SpeechToTextOutput
from altlas_sdk.tasks import SPEECH_TO_TEXT, TEXT_TO_SPEECH

#: OpenAI's model names, which select the task's default model here.
OPENAI_MODELS: dict[str, frozenset[str]] = {
    SPEECH_TO_TEXT: frozenset(
        {"whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe", "gpt-4o-transcribe-diarize"}
    ),
    TEXT_TO_SPEECH: frozenset({"tts-1", "tts-1-hd", "gpt-4o-mini-tts"}),
}

#: OpenAI's voice names: they select the model's default speaker.
OPENAI_VOICES = frozenset(
    {
        "alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage",
        "shimmer", "verse", "marin", "cedar",
    }
)  # fmt: skip

SpeechFormat = Literal["mp3", "opus", "aac", "flac", "wav", "pcm"]

#: OpenAI's raw PCM is 16-bit little-endian mono at this rate.
PCM_RATE = 24000


class SpeechRequest(Struct, kw_only=True, forbid_unknown_fields=True):
    """``POST /v1/audio/speech``. ``speed`` 0.25-4 (1 is the voice's own pace);
    ``instructions`` is accepted and not acted on (Piper voices take no style prompt);
    ``stream_format`` ``audio`` sends the audio as it is synthesized, ``sse`` sends
    ``speech.audio.delta`` events."""

    model: str
    input: Annotated[str, Meta(min_length=1, max_length=100_000)]
    voice: str
    response_format: SpeechFormat = "mp3"
    speed: Annotated[float, Meta(ge=0.25, le=4.0)] = 1.0
    instructions: str | None = None
    stream_format: Literal["audio", "sse"] = "audio"


class TranscriptionUsage(Struct, kw_only=True):
    """Billed duration, in OpenAI's shape: whole seconds of audio."""

    type: Literal["duration"] = "duration"
    seconds: int


class Transcription(Struct, kw_only=True):
    """``response_format=json``."""

    text: str
    usage: TranscriptionUsage | None = None


class TranscriptionWord(Struct, kw_only=True):
    """A word and its time span (with ``timestamp_granularities[]=word``)."""

    word: str
    start: float
    end: float


class TranscriptionSegment(Struct, kw_only=True):
    """A segment of ``verbose_json``. ``tokens`` is left empty: the backend does not
    report token ids."""

    id: int
    seek: int
    start: float
    end: float
    text: str
    tokens: list[int]
    temperature: float
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float


class TranscriptionVerbose(Struct, kw_only=True, omit_defaults=True):
    """``response_format=verbose_json``; ``language`` is the ISO 639-1 code."""

    task: Literal["transcribe", "translate"]
    language: str
    duration: float
    text: str
    segments: list[TranscriptionSegment] | None = None
    words: list[TranscriptionWord] | None = None
    usage: TranscriptionUsage | None = None


def usage(output: SpeechToTextOutput) -> TranscriptionUsage:
    """The audio's duration, rounded up to whole seconds."""
    return TranscriptionUsage(seconds=max(1, -int(-output.duration // 1)))


def verbose(
    output: SpeechToTextOutput,
    *,
    task: Literal["transcribe", "translate"],
    temperature: float,
    granularities: set[str],
) -> TranscriptionVerbose:
    """``verbose_json``: segments unless only words were asked for, words when asked."""
    segments = None
    if "segment" in granularities or not granularities:
        segments = [
            TranscriptionSegment(
                id=segment.id,
                seek=int(segment.start * 100),  # Whisper's seek counts 10 ms frames
                start=segment.start,
                end=segment.end,
                text=segment.text,
                tokens=[],
                temperature=temperature,
                avg_logprob=segment.avg_logprob or 0.0,
                compression_ratio=_compression_ratio(segment.text),
                no_speech_prob=segment.no_speech_prob or 0.0,
            )
            for segment in output.segments
        ]
    words = None
    if "word" in granularities:
        words = [
            TranscriptionWord(word=word.word.strip(), start=word.start, end=word.end)
            for segment in output.segments
            for word in segment.words or []
        ]
    return TranscriptionVerbose(
        task=task,
        language=output.language or "",
        duration=output.duration,
        text=output.text,
        segments=segments,
        words=words,
        usage=usage(output),
    )


def _compression_ratio(text: str) -> float:
    # What Whisper reports: how well the text compresses (repetitive text compresses well).
    import zlib

    raw = text.encode()
    return round(len(raw) / len(zlib.compress(raw)), 4) if raw else 0.0


def _timestamp(seconds: float, separator: str) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def srt(output: SpeechToTextOutput) -> str:
    """SubRip subtitles, one cue per segment."""
    cues = [
        f"{index}\n{_timestamp(s.start, ',')} --> {_timestamp(s.end, ',')}\n{s.text}\n"
        for index, s in enumerate(output.segments, 1)
    ]
    return "\n".join(cues)


def vtt(output: SpeechToTextOutput) -> str:
    """WebVTT subtitles, one cue per segment."""
    cues = [
        f"{_timestamp(s.start, '.')} --> {_timestamp(s.end, '.')}\n{s.text}\n"
        for s in output.segments
    ]
    return "WEBVTT\n\n" + "\n".join(cues)
