"""OpenAI-compatible audio routes under ``/v1``: transcriptions, translations, speech.

- ``POST /v1/audio/transcriptions`` and ``/v1/audio/translations`` take OpenAI's
  multipart form (``file``, ``model``, ``language``, ``prompt``, ``response_format``,
  ``temperature``, ``timestamp_granularities[]``) and run the ``speech-to-text`` task.
- ``POST /v1/audio/speech`` takes OpenAI's JSON body and runs ``text-to-speech``. WAV
  and raw PCM are sent as each sentence is synthesized; MP3, Opus, AAC and FLAC once the
  whole text is spoken and encoded.

Errors are the one error body with OpenAI's statuses (:mod:`altlas.http.openai_errors`).
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from altlas.http import sse
from altlas.http.bodies import require_json
from altlas.http.disconnect import until_disconnected
from altlas.http.errors import request_id_of
from altlas.http.forms import parse_form
from altlas.http.openai_errors import decode_openai, openai_route, sse_error_event
from altlas.http.openapi import describe
from altlas.http.responses import MsgspecResponse
from altlas.inference.prepare import PreparedRequest
from altlas.inference.service import InferenceService
from altlas.openai import audio
from altlas.openai.audio_requests import (
    FORM_FIELDS,
    GRANULARITIES,
    TRANSCRIPT_FORMATS,
    Form,
    TranscriptionCall,
    form_field,
    model_id,
    speech_call,
    transcription_call,
)
from altlas_sdk.audio import encode
from altlas_sdk.audio.tasks import SpeechToTextOutput, TextToSpeechOutput
from altlas_sdk.errors import BadRequest, UnsupportedMediaType
from altlas_sdk.tasks import SPEECH_TO_TEXT, TEXT_TO_SPEECH

_TAGS = ("openai",)
_ERRORS = (404, 409, 413, 503, 507)
#: Where the task's fields are in OpenAI's form.
_TRANSCRIPTION_PARAMS = {
    "$.inputs.audio": "file",
    "$.inputs": "file",
    "$.model_id": "model",
    "$.task": "model",
    "$.parameters.language": "language",
    "$.parameters.initial_prompt": "prompt",
    "$.parameters.temperature": "temperature",
    "$.parameters.word_timestamps": "timestamp_granularities[]",
}
_SPEECH_PARAMS = {
    "$.inputs.text": "$.input",
    "$.inputs": "$.input",
    "$.parameters.speaker": "$.voice",
    "$.parameters.length_scale": "$.speed",
}
_FORM_CONTENT = {
    "multipart/form-data": {
        "schema": {
            "type": "object",
            "required": ["file", "model"],
            "properties": {
                "file": {"type": "string", "format": "binary"},
                "model": {"type": "string"},
                "language": {"type": "string"},
                "prompt": {"type": "string"},
                "response_format": {"type": "string", "enum": sorted(TRANSCRIPT_FORMATS)},
                "temperature": {"type": "number", "minimum": 0, "maximum": 1},
                "timestamp_granularities[]": {
                    "type": "array",
                    "items": {"type": "string", "enum": sorted(GRANULARITIES)},
                },
            },
        }
    }
}
_TRANSCRIPT_CONTENT = {
    "application/json": {"schema": {"type": "object"}},
    "text/plain": {"schema": {"type": "string"}},
    "text/vtt": {"schema": {"type": "string"}},
}
_SPEECH_CONTENT = {
    media_type: {"schema": {"type": "string", "format": "binary"}}
    for media_type in sorted(set(encode.MEDIA_TYPES.values()))
} | {"text/event-stream": {"schema": {"type": "string"}}}


def _prepare(
    request: Request, model: str, task: str, typed: tuple[msgspec.Struct, msgspec.Struct]
) -> tuple[InferenceService, PreparedRequest]:
    """The pipeline and the prepared request of a translated audio request."""
    runtime = request.app.state.runtime
    service: InferenceService = runtime.inference
    prepared = service.preparer.prepare_typed(
        model_id(runtime.catalog, model, task), task, typed, request_id=request_id_of(request.scope)
    )
    return service, prepared


# --- transcriptions and translations --------------------------------------------------


async def _read_form(request: Request) -> tuple[Form, bytes]:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "multipart/form-data":
        raise UnsupportedMediaType(
            f"expected Content-Type: multipart/form-data, got '{media_type or 'none'}'",
            param="Content-Type",
        )
    form = await parse_form(request, max_files=1, max_fields=64)
    fields: Form = {}
    data: bytes | None = None
    try:
        for name, value in form.multi_items():
            if name not in FORM_FIELDS:
                raise BadRequest(f"unknown form field '{name}'", param=name, code="unknown_field")
            if isinstance(value, UploadFile):
                if name != "file":
                    raise BadRequest(f"'{name}' must be a text field", param=name)
                data = await value.read()
            else:
                fields.setdefault(name, []).append(value)
    finally:
        await form.close()
    if data is None:
        raise BadRequest("the form has no audio 'file' part", param="file", code="missing_file")
    return fields, data


async def _transcribe(request: Request, task: str) -> Response:
    fields, data = await _read_form(request)
    model = _audio_model(fields)
    call = transcription_call(fields, data, task)
    service, prepared = _prepare(request, model, SPEECH_TO_TEXT, (call.inputs, call.parameters))
    if call.stream:
        if call.response_format not in {"json", "text"}:
            raise BadRequest(
                "stream=true sends transcript.text events: use response_format json or text",
                param="response_format",
            )
        return await _streamed_transcript(request, service, prepared)
    try:
        response = await until_disconnected(request, service.run(prepared))
    except UnsupportedMediaType as error:
        # OpenAI answers a file that is not audio with a 400 on `file`; its clients
        # raise BadRequestError for it.
        raise BadRequest(error.message, param="file", code=error.code) from None
    output = response.outputs
    assert isinstance(output, SpeechToTextOutput)
    return _transcript(output, call, task)


def _audio_model(fields: Form) -> str:
    """The form's required ``model``."""
    model = form_field(fields, "model")
    if model is None:
        raise BadRequest("'model' is required", param="model", code="missing_model")
    return model


def _transcript(output: SpeechToTextOutput, call: TranscriptionCall, task: str) -> Response:
    """The transcript in the ``response_format`` the form asked for."""
    if call.response_format == "text":
        return PlainTextResponse(output.text + "\n")
    if call.response_format == "srt":
        return PlainTextResponse(audio.srt(output))
    if call.response_format == "vtt":
        return PlainTextResponse(audio.vtt(output), media_type="text/vtt")
    if call.response_format == "verbose_json":
        temperature = call.parameters.temperature
        return MsgspecResponse(
            audio.verbose(
                output,
                task="translate" if task == "translate" else "transcribe",
                temperature=float(temperature if temperature is not None else 0.0),
                granularities=set(call.granularities),
            )
        )
    return MsgspecResponse(audio.Transcription(text=output.text, usage=audio.usage(output)))


async def _streamed_transcript(
    request: Request, service: InferenceService, prepared: PreparedRequest
) -> Response:
    """``transcript.text.delta`` events as Whisper decodes each segment, then
    ``transcript.text.done`` with the whole text, as OpenAI streams a transcription."""
    stream = await service.stream(prepared)
    try:
        first, rest = await sse.first_chunk(request, stream)
    except UnsupportedMediaType as error:
        raise BadRequest(error.message, param="file", code=error.code) from None

    async def frames() -> AsyncIterator[bytes]:
        texts: list[str] = []
        duration = 0.0
        async for chunk in sse.chunks(first, rest):
            assert isinstance(chunk, SpeechToTextOutput)
            delta = chunk.text if texts else chunk.text.lstrip()
            texts.append(delta)
            duration = chunk.duration
            yield sse.event({"type": "transcript.text.delta", "delta": delta, "logprobs": None})
        seconds = max(1, -int(-duration // 1)) if texts else 0
        yield sse.event(
            {
                "type": "transcript.text.done",
                "text": "".join(texts).strip(),
                "logprobs": None,
                "usage": {"type": "duration", "seconds": seconds},
            }
        )

    return sse.stream_response(
        stream, frames(), error_event=lambda error: sse_error_event(error, request)
    )


@describe(
    request_content=_FORM_CONTENT,
    response_content=_TRANSCRIPT_CONTENT,
    errors=_ERRORS,
    tags=_TAGS,
)
@openai_route(_TRANSCRIPTION_PARAMS)
async def transcriptions(request: Request) -> Response:
    """``POST /v1/audio/transcriptions``: speech to text in its own language."""
    return await _transcribe(request, "transcribe")


@describe(
    request_content=_FORM_CONTENT,
    response_content=_TRANSCRIPT_CONTENT,
    errors=_ERRORS,
    tags=_TAGS,
)
@openai_route(_TRANSCRIPTION_PARAMS)
async def translations(request: Request) -> Response:
    """``POST /v1/audio/translations``: speech to English text."""
    return await _transcribe(request, "translate")


# --- speech ---------------------------------------------------------------------------


@describe(
    request=audio.SpeechRequest,
    response_content=_SPEECH_CONTENT,
    errors=_ERRORS,
    tags=_TAGS,
)
@openai_route(_SPEECH_PARAMS)
async def speech(request: Request) -> Response:
    """``POST /v1/audio/speech``: text to speech."""
    require_json(request)
    body = decode_openai(await request.body(), audio.SpeechRequest)
    assert isinstance(body, audio.SpeechRequest)
    service, prepared = _prepare(request, body.model, TEXT_TO_SPEECH, speech_call(body))
    if body.stream_format == "sse" or body.response_format in {"wav", "pcm"}:
        return await _streamed_speech(request, body, service, prepared)
    response = await until_disconnected(request, service.run(prepared))
    output = response.outputs
    assert isinstance(output, TextToSpeechOutput)
    # Encoding (MP3, Opus...) is CPU work: off the event loop.
    content = await run_in_threadpool(
        encode.encode_pcm16, output.audio, output.sample_rate, body.response_format
    )
    return Response(content, media_type=encode.MEDIA_TYPES[body.response_format])


async def _streamed_speech(
    request: Request,
    body: audio.SpeechRequest,
    service: InferenceService,
    prepared: PreparedRequest,
) -> Response:
    if body.response_format not in {"wav", "pcm"}:
        raise BadRequest(
            "stream_format=sse sends raw PCM deltas: use response_format pcm or wav",
            param="$.response_format",
        )
    stream = await service.stream(prepared)
    # The first sentence before the 200: an early failure is an ordinary error response.
    first, rest = await sse.first_chunk(request, stream)
    rate = first.sample_rate if isinstance(first, TextToSpeechOutput) else audio.PCM_RATE
    # OpenAI's PCM is 24 kHz; WAV declares the voice's own rate in its header.
    resampler = (
        encode.Pcm16Resampler(rate, audio.PCM_RATE) if body.response_format == "pcm" else None
    )

    async def pcm() -> AsyncIterator[bytes]:
        async for chunk in sse.chunks(first, rest):
            assert isinstance(chunk, TextToSpeechOutput)
            yield resampler.feed(chunk.audio) if resampler is not None else chunk.audio
        if resampler is not None:
            yield resampler.flush()

    async def raw() -> AsyncIterator[bytes]:
        if body.response_format == "wav":
            yield encode.streaming_wav_header(rate)
        async for piece in pcm():
            yield piece

    async def events() -> AsyncIterator[bytes]:
        async for piece in pcm():
            yield sse.event(
                {"type": "speech.audio.delta", "audio": base64.b64encode(piece).decode()}
            )
        usage = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
        yield sse.event({"type": "speech.audio.done", "usage": usage})

    if body.stream_format == "sse":
        return sse.stream_response(
            stream, events(), error_event=lambda error: sse_error_event(error, request)
        )
    # Once audio has gone out there is no status left to change: log and stop.
    return sse.stream_response(
        stream, raw(), error_event=None, media_type=encode.MEDIA_TYPES[body.response_format]
    )


routes = [
    Route("/v1/audio/transcriptions", transcriptions, methods=["POST"]),
    Route("/v1/audio/translations", translations, methods=["POST"]),
    Route("/v1/audio/speech", speech, methods=["POST"]),
]
