"""OpenAI-compatible audio routes under ``/v1``: transcriptions, translations, speech.

- ``POST /v1/audio/transcriptions`` and ``/v1/audio/translations`` take OpenAI's
  multipart form (``file``, ``model``, ``language``, ``prompt``, ``response_format``,
  ``temperature``, ``timestamp_granularities[]``) and run the ``speech-to-text`` task.
- ``POST /v1/audio/speech`` takes OpenAI's JSON body and runs ``text-to-speech``. WAV
  and raw PCM are sent as each sentence is synthesized; MP3, Opus, AAC and FLAC once the
  whole text is spoken and encoded.

Errors are the one error body with OpenAI's statuses (:mod:`altlas.openai.errors`).
"""

from __future__ import annotations

import base64
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from altlas.http.bodies import require_json
from altlas.http.disconnect import until_disconnected
from altlas.http.errors import request_id_of
from altlas.http.openapi import describe
from altlas.http.responses import MsgspecResponse
from altlas.inference.stream import first_chunk, stream_inference
from altlas.openai import audio
from altlas.openai.errors import decode_openai, openai_route, sse_error_event
from altlas_sdk.audio import encode
from altlas_sdk.audio.tasks import SpeechToTextOutput, TextToSpeechOutput
from altlas_sdk.errors import AltlasError, BadRequest, InternalError, UnsupportedMediaType
from altlas_sdk.tasks import SPEECH_TO_TEXT, TEXT_TO_SPEECH
from altlas_sdk.wire import InferenceRequest

logger = logging.getLogger(__name__)

_TAGS = ("openai",)
_ERRORS = (404, 409, 413, 503, 507)
#: Form fields of OpenAI's transcription request; the ones not listed in
#: ``_transcription_parameters`` are accepted and not acted on.
_FORM_FIELDS = frozenset(
    {
        "file", "model", "language", "prompt", "response_format", "temperature",
        "timestamp_granularities[]", "timestamp_granularities", "include[]", "stream",
        "chunking_strategy", "known_speaker_names[]", "known_speaker_references[]",
        "keywords[]", "languages[]",
    }
)  # fmt: skip
_TRANSCRIPT_FORMATS = frozenset({"json", "text", "srt", "verbose_json", "vtt"})
_GRANULARITIES = frozenset({"word", "segment"})
#: Where the internal request's fields are in OpenAI's form.
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
                "response_format": {"type": "string", "enum": sorted(_TRANSCRIPT_FORMATS)},
                "temperature": {"type": "number", "minimum": 0, "maximum": 1},
                "timestamp_granularities[]": {
                    "type": "array",
                    "items": {"type": "string", "enum": sorted(_GRANULARITIES)},
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


def _model_id(request: Request, model: str, task: str) -> str | None:
    """The catalog id ``model`` names; OpenAI's own model names mean "the default"."""
    if model not in request.app.state.runtime.catalog and model in audio.OPENAI_MODELS[task]:
        return None
    return model


# --- transcriptions and translations --------------------------------------------------


async def _read_form(request: Request) -> tuple[dict[str, list[str]], bytes]:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "multipart/form-data":
        raise UnsupportedMediaType(
            f"expected Content-Type: multipart/form-data, got '{media_type or 'none'}'",
            param="Content-Type",
        )
    try:
        form = await request.form(max_files=1, max_fields=64)
    except Exception as error:  # noqa: BLE001 - Starlette raises several types here
        detail = getattr(error, "detail", None) or getattr(error, "message", None) or error
        raise BadRequest(f"malformed form body: {detail}", code="invalid_form") from None
    fields: dict[str, list[str]] = {}
    data: bytes | None = None
    try:
        for name, value in form.multi_items():
            if name not in _FORM_FIELDS:
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


def _one(fields: dict[str, list[str]], name: str, default: str | None = None) -> str | None:
    values = fields.get(name)
    if not values or values[0] == "":
        return default
    if len(values) > 1:
        raise BadRequest(f"form field '{name}' must be given once", param=name)
    return values[0]


def _transcription_parameters(
    fields: dict[str, list[str]], task: str
) -> tuple[dict[str, Any], str, set[str]]:
    response_format = _one(fields, "response_format", "json")
    assert response_format is not None
    if response_format not in _TRANSCRIPT_FORMATS:
        raise BadRequest(
            f"response_format must be one of {', '.join(sorted(_TRANSCRIPT_FORMATS))}, "
            f"got '{response_format}'",
            param="response_format",
        )
    granularities = set(
        fields.get("timestamp_granularities[]", []) + fields.get("timestamp_granularities", [])
    )
    if granularities - _GRANULARITIES:
        raise BadRequest(
            f"timestamp_granularities[] takes 'word' and 'segment', got "
            f"{sorted(granularities - _GRANULARITIES)}",
            param="timestamp_granularities[]",
        )
    if granularities and response_format != "verbose_json":
        raise BadRequest(
            "timestamp_granularities[] needs response_format=verbose_json",
            param="timestamp_granularities[]",
        )
    parameters: dict[str, Any] = {"task": task, "word_timestamps": "word" in granularities}
    temperature = _one(fields, "temperature")
    if temperature is not None:
        try:
            parameters["temperature"] = float(temperature)
        except ValueError:
            raise BadRequest(
                f"temperature must be a number, got '{temperature}'", param="temperature"
            ) from None
    language = _one(fields, "language")
    if language is not None:
        parameters["language"] = language
    prompt = _one(fields, "prompt")
    if prompt is not None:
        parameters["initial_prompt"] = prompt
    return parameters, response_format, granularities


async def _transcribe(request: Request, task: str) -> Response:
    fields, data = await _read_form(request)
    model = _one(fields, "model")
    if model is None:
        raise BadRequest("'model' is required", param="model", code="missing_model")
    stream = _one(fields, "stream", "false") in {"true", "True", "1"}
    parameters, response_format, granularities = _transcription_parameters(fields, task)
    inference = InferenceRequest(
        model_id=_model_id(request, model, SPEECH_TO_TEXT),
        inputs={"audio": data},
        parameters=parameters,
    )
    if stream:
        if response_format not in {"json", "text"}:
            raise BadRequest(
                "stream=true sends transcript.text events: use response_format json or text",
                param="response_format",
            )
        return await _streamed_transcript(request, inference)
    service = request.app.state.runtime.inference
    try:
        response = await until_disconnected(
            request,
            service.run_inference(
                inference, task=SPEECH_TO_TEXT, request_id=request_id_of(request.scope)
            ),
        )
    except UnsupportedMediaType as error:
        # OpenAI answers a file that is not audio with a 400 on `file`; its clients
        # raise BadRequestError for it.
        raise BadRequest(error.message, param="file", code=error.code) from None
    output = response.outputs
    assert isinstance(output, SpeechToTextOutput)
    if response_format == "text":
        return PlainTextResponse(output.text + "\n")
    if response_format == "srt":
        return PlainTextResponse(audio.srt(output))
    if response_format == "vtt":
        return PlainTextResponse(audio.vtt(output), media_type="text/vtt")
    if response_format == "verbose_json":
        return MsgspecResponse(
            audio.verbose(
                output,
                task="translate" if task == "translate" else "transcribe",
                temperature=float(parameters.get("temperature", 0.0)),
                granularities=granularities,
            )
        )
    return MsgspecResponse(audio.Transcription(text=output.text, usage=audio.usage(output)))


async def _streamed_transcript(request: Request, inference: InferenceRequest) -> Response:
    """``transcript.text.delta`` events as Whisper decodes each segment, then
    ``transcript.text.done`` with the whole text, as OpenAI streams a transcription."""
    service = request.app.state.runtime.inference
    try:
        stream = await stream_inference(
            service, inference, task=SPEECH_TO_TEXT, request_id=request_id_of(request.scope)
        )
        first, rest = await first_chunk(stream)
    except UnsupportedMediaType as error:
        raise BadRequest(error.message, param="file", code=error.code) from None

    def event(payload: dict[str, Any]) -> bytes:
        return b"data: " + msgspec.json.encode(payload) + b"\n\n"

    async def events() -> AsyncIterator[bytes]:
        texts: list[str] = []
        duration = 0.0
        try:
            chunks = [first] if first is not None else []
            async for chunk in _chain(chunks, rest):
                assert isinstance(chunk, SpeechToTextOutput)
                delta = chunk.text if texts else chunk.text.lstrip()
                texts.append(delta)
                duration = chunk.duration
                yield event({"type": "transcript.text.delta", "delta": delta, "logprobs": None})
            seconds = max(1, -int(-duration // 1)) if texts else 0
            yield event(
                {
                    "type": "transcript.text.done",
                    "text": "".join(texts).strip(),
                    "logprobs": None,
                    "usage": {"type": "duration", "seconds": seconds},
                }
            )
        except AltlasError as error:
            yield sse_error_event(error, request)
        except Exception:
            error_id = uuid.uuid4().hex[:12]
            logger.exception(
                "transcript stream %s failed (error id %s)", stream.request_id, error_id
            )
            yield sse_error_event(InternalError(error_id), request)
        finally:
            await stream.aclose()

    return StreamingResponse(events(), media_type="text/event-stream")


async def _chain(head: list[Any], rest: AsyncIterator[Any]) -> AsyncIterator[Any]:
    for item in head:
        yield item
    async for item in rest:
        yield item


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


def _speech_request(request: Request, body: audio.SpeechRequest) -> InferenceRequest:
    parameters: dict[str, Any] = {
        # Piper's length scale is a duration factor: twice as fast is half as long.
        "length_scale": round(1.0 / body.speed, 4),
        "response_format": "pcm",
    }
    if body.voice not in audio.OPENAI_VOICES:
        parameters["speaker"] = body.voice
    return InferenceRequest(
        model_id=_model_id(request, body.model, TEXT_TO_SPEECH),
        inputs={"text": body.input},
        parameters=parameters,
    )


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
    inference = _speech_request(request, body)
    if body.stream_format == "sse" or body.response_format in {"wav", "pcm"}:
        return await _streamed_speech(request, body, inference)
    service = request.app.state.runtime.inference
    response = await until_disconnected(
        request,
        service.run_inference(
            inference, task=TEXT_TO_SPEECH, request_id=request_id_of(request.scope)
        ),
    )
    output = response.outputs
    assert isinstance(output, TextToSpeechOutput)
    # Encoding (MP3, Opus...) is CPU work: off the event loop.
    content = await run_in_threadpool(
        encode.encode_pcm16, output.audio, output.sample_rate, body.response_format
    )
    return Response(content, media_type=encode.MEDIA_TYPES[body.response_format])


async def _streamed_speech(
    request: Request, body: audio.SpeechRequest, inference: InferenceRequest
) -> Response:
    if body.response_format not in {"wav", "pcm"}:
        raise BadRequest(
            "stream_format=sse sends raw PCM deltas: use response_format pcm or wav",
            param="$.response_format",
        )
    service = request.app.state.runtime.inference
    stream = await stream_inference(
        service, inference, task=TEXT_TO_SPEECH, request_id=request_id_of(request.scope)
    )
    # The first sentence before the 200: an early failure is an ordinary error response.
    try:
        first, rest = await first_chunk(stream)
    except BaseException:
        await stream.aclose()
        raise
    rate = first.sample_rate if isinstance(first, TextToSpeechOutput) else audio.PCM_RATE
    # OpenAI's PCM is 24 kHz; WAV declares the voice's own rate in its header.
    resampler = (
        encode.Pcm16Resampler(rate, audio.PCM_RATE) if body.response_format == "pcm" else None
    )

    def convert(pcm: bytes) -> bytes:
        return resampler.feed(pcm) if resampler is not None else pcm

    async def chunks() -> AsyncIterator[bytes]:
        if first is not None:
            assert isinstance(first, TextToSpeechOutput)
            yield convert(first.audio)
        async for chunk in rest:
            assert isinstance(chunk, TextToSpeechOutput)
            yield convert(chunk.audio)
        if resampler is not None:
            yield resampler.flush()

    async def raw() -> AsyncIterator[bytes]:
        try:
            if body.response_format == "wav":
                yield encode.streaming_wav_header(rate)
            async for piece in chunks():
                yield piece
        except Exception:
            # Once audio has gone out there is no status left to change: log and stop.
            logger.exception("speech stream %s failed", stream.request_id)
        finally:
            await stream.aclose()

    async def events() -> AsyncIterator[bytes]:
        try:
            async for piece in chunks():
                delta = {"type": "speech.audio.delta", "audio": base64.b64encode(piece).decode()}
                yield b"data: " + msgspec.json.encode(delta) + b"\n\n"
            done = {
                "type": "speech.audio.done",
                "usage": {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0},
            }
            yield b"data: " + msgspec.json.encode(done) + b"\n\n"
        except AltlasError as error:
            yield sse_error_event(error, request)
        except Exception:
            error_id = uuid.uuid4().hex[:12]
            logger.exception("speech stream %s failed (error id %s)", stream.request_id, error_id)
            yield sse_error_event(InternalError(error_id), request)
        finally:
            await stream.aclose()

    if body.stream_format == "sse":
        return StreamingResponse(events(), media_type="text/event-stream")
    return StreamingResponse(raw(), media_type=encode.MEDIA_TYPES[body.response_format])


routes = [
    Route("/v1/audio/transcriptions", transcriptions, methods=["POST"]),
    Route("/v1/audio/translations", translations, methods=["POST"]),
    Route("/v1/audio/speech", speech, methods=["POST"]),
]
