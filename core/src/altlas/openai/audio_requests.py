"""From OpenAI's audio requests to the audio tasks' typed inputs and parameters.

A transcription form (its text fields and the audio bytes of its ``file`` part) becomes
a ``speech-to-text`` call; a speech request a ``text-to-speech`` call. The inputs are
built as the task's Structs directly; the parameters are converted, so that the task's
own bounds apply and a bad value names OpenAI's field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from altlas.inference.decode import validation_failed
from altlas.openai.audio import OPENAI_MODELS, OPENAI_VOICES, SpeechRequest
from altlas_sdk.audio.tasks import (
    AudioInput,
    SpeechToTextParameters,
    TextToSpeechInput,
    TextToSpeechParameters,
)
from altlas_sdk.errors import BadRequest

#: Form fields of OpenAI's transcription request; the ones :func:`transcription_call`
#: does not read are accepted and not acted on.
FORM_FIELDS = frozenset(
    {
        "file", "model", "language", "prompt", "response_format", "temperature",
        "timestamp_granularities[]", "timestamp_granularities", "include[]", "stream",
        "chunking_strategy", "known_speaker_names[]", "known_speaker_references[]",
        "keywords[]", "languages[]",
    }
)  # fmt: skip
TRANSCRIPT_FORMATS = frozenset({"json", "text", "srt", "verbose_json", "vtt"})
GRANULARITIES = frozenset({"word", "segment"})

Form = dict[str, list[str]]


@dataclass(frozen=True)
class TranscriptionCall:
    """A transcription form, translated: the task's inputs and parameters, and how
    the answer is to be written."""

    inputs: AudioInput
    parameters: SpeechToTextParameters
    response_format: str
    granularities: frozenset[str]
    stream: bool


def model_id(known: object, model: str, task: str) -> str | None:
    """The catalog id ``model`` names; OpenAI's own model names (``whisper-1``...) mean
    the task's default model (``None``) unless the catalog has a model of that name.
    ``known`` is the catalog (anything supporting ``in``)."""
    if model not in known and model in OPENAI_MODELS[task]:  # type: ignore[operator]
        return None
    return model


def form_field(fields: Form, name: str, default: str | None = None) -> str | None:
    """One form field's value (``default`` when absent or empty); given twice is a 400."""
    values = fields.get(name)
    if not values or values[0] == "":
        return default
    if len(values) > 1:
        raise BadRequest(f"form field '{name}' must be given once", param=name)
    return values[0]


def transcription_call(fields: Form, audio: bytes, task: str) -> TranscriptionCall:
    """The ``speech-to-text`` call of a transcription (``task`` ``transcribe``) or
    translation (``translate``) form."""
    response_format = form_field(fields, "response_format", "json")
    assert response_format is not None
    if response_format not in TRANSCRIPT_FORMATS:
        raise BadRequest(
            f"response_format must be one of {', '.join(sorted(TRANSCRIPT_FORMATS))}, "
            f"got '{response_format}'",
            param="response_format",
        )
    granularities = frozenset(
        fields.get("timestamp_granularities[]", []) + fields.get("timestamp_granularities", [])
    )
    if granularities - GRANULARITIES:
        raise BadRequest(
            f"timestamp_granularities[] takes 'word' and 'segment', got "
            f"{sorted(granularities - GRANULARITIES)}",
            param="timestamp_granularities[]",
        )
    if granularities and response_format != "verbose_json":
        raise BadRequest(
            "timestamp_granularities[] needs response_format=verbose_json",
            param="timestamp_granularities[]",
        )
    parameters: dict[str, Any] = {"task": task, "word_timestamps": "word" in granularities}
    temperature = form_field(fields, "temperature")
    if temperature is not None:
        try:
            parameters["temperature"] = float(temperature)
        except ValueError:
            raise BadRequest(
                f"temperature must be a number, got '{temperature}'", param="temperature"
            ) from None
    language = form_field(fields, "language")
    if language is not None:
        parameters["language"] = language
    prompt = form_field(fields, "prompt")
    if prompt is not None:
        parameters["initial_prompt"] = prompt
    return TranscriptionCall(
        inputs=AudioInput(audio=audio),
        parameters=_convert(parameters, SpeechToTextParameters),
        response_format=response_format,
        granularities=granularities,
        stream=form_field(fields, "stream", "false") in {"true", "True", "1"},
    )


def speech_call(body: SpeechRequest) -> tuple[TextToSpeechInput, TextToSpeechParameters]:
    """The ``text-to-speech`` call of a speech request (always raw PCM: the route
    encodes it in the format asked for)."""
    parameters: dict[str, Any] = {
        # Piper's length scale is a duration factor: twice as fast is half as long.
        "length_scale": round(1.0 / body.speed, 4),
        "response_format": "pcm",
    }
    if body.voice not in OPENAI_VOICES:
        parameters["speaker"] = body.voice
    return TextToSpeechInput(text=body.input), _convert(parameters, TextToSpeechParameters)


def _convert(parameters: dict[str, Any], kind: type[Any]) -> Any:
    try:
        return msgspec.convert(parameters, kind)
    except msgspec.ValidationError as error:
        raise validation_failed(error, "$.parameters") from None
