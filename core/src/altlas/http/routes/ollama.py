"""The Ollama-compatible inference routes: ``/api/chat``, ``/api/generate``,
``/api/embed`` and ``/api/embeddings``; the model routes are
:mod:`altlas.http.routes.ollama_models` (docs/ollama.md).

Requests are translated once (:mod:`altlas.ollama.translate`) and go through the one
inference pipeline, as ``/v1``'s do. Chat and generate always stream from the model, so
the timing fields are measured (the first token's arrival splits the prompt's
evaluation from the generation); ``stream: false`` gathers the chunks into one object.
Streams are newline-delimited JSON. Errors are Ollama's ``{"error": "..."}`` with the
service's statuses; an error after a stream started is one last ``{"error"}`` line.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from altlas.http import sse
from altlas.http.disconnect import until_disconnected
from altlas.http.errors import request_id_of
from altlas.http.ollama_io import (
    ERRORS,
    NDJSON,
    TAGS,
    decode,
    error_body,
    line,
    lines_or_object,
    model_id_of,
    ollama_route,
    runtime_of,
)
from altlas.http.openapi import describe
from altlas.http.responses import MsgspecResponse
from altlas.inference.stream import InferenceStream
from altlas.ollama import translate
from altlas.ollama.types import (
    AssistantMessage,
    ChatRequest,
    ChatResponse,
    EmbeddingsRequest,
    EmbeddingsResponse,
    EmbedRequest,
    EmbedResponse,
    GenerateRequest,
    GenerateResponse,
    Timings,
)
from altlas.openai.dimensions import shorten
from altlas_sdk import tasks
from altlas_sdk.errors import BadRequest
from altlas_sdk.tasks import EmbeddingInput, EmbeddingParameters, Usage

# --- generation ---------------------------------------------------------------------

_Render = Callable[[str, str | None, Timings | None], msgspec.Struct]


async def _generation(
    request: Request,
    model_id: str,
    task: str,
    typed: tuple[msgspec.Struct, msgspec.Struct],
    *,
    stream: bool,
    render: _Render,
) -> Response:
    """Run ``task`` streamed from the model; answer NDJSON lines, or one object."""
    runtime = runtime_of(request)
    started = time.perf_counter()
    was_loaded = runtime.models.is_loaded(model_id)
    service = runtime.inference
    prepared = service.preparer.prepare_typed(
        model_id, task, typed, request_id=request_id_of(request.scope)
    )
    chunks = await service.stream(prepared)
    first, rest = await sse.first_chunk(request, chunks)
    first_at = time.perf_counter()

    def load_ms() -> float:
        return 0.0 if was_loaded else runtime.models.last_load_ms(model_id) or 0.0

    def final(last: msgspec.Struct | None, text: str) -> msgspec.Struct:
        usage: Usage = getattr(last, "usage", None) or Usage()
        reason = getattr(last, "finish_reason", None)
        timings = translate.timings(
            started=started,
            first=first_at,
            finished=time.perf_counter(),
            load_ms=load_ms(),
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
        )
        return render(text, "length" if reason == "length" else "stop", timings)

    if not stream:
        text, last = await until_disconnected(request, _gather(chunks, first, rest))
        return MsgspecResponse(final(last, text))

    async def lines() -> AsyncIterator[bytes]:
        last = None
        async for chunk in sse.chunks(first, rest):
            last = chunk
            piece = _text_of(chunk)
            if piece:
                yield line(render(piece, None, None))
        yield line(final(last, ""))

    return sse.stream_response(
        chunks, lines(), error_event=lambda error: line(error_body(error)), media_type=NDJSON
    )


async def _gather(
    chunks: InferenceStream, first: msgspec.Struct | None, rest: AsyncIterator[msgspec.Struct]
) -> tuple[str, msgspec.Struct | None]:
    """The whole text of a stream and its last chunk; the stream is closed after."""
    pieces, last = [], None
    try:
        async for chunk in sse.chunks(first, rest):
            pieces.append(_text_of(chunk))
            last = chunk
    finally:
        await chunks.aclose()
    return "".join(pieces), last


def _text_of(chunk: msgspec.Struct) -> str:
    message = getattr(chunk, "message", None)
    if message is not None:
        return message.content
    return str(getattr(chunk, "text", ""))


async def _load_or_unload(request: Request, model_id: str, keep_alive: float | None) -> str:
    """What a request with no prompt does, as in Ollama: load the model, or with
    ``keep_alive`` 0 unload it. Returns the ``done_reason``."""
    manager = runtime_of(request).models
    if keep_alive == 0:
        if manager.is_loaded(model_id):
            await manager.unload_model(model_id)
        return "unload"
    await manager.load_model(model_id)
    return "load"


@describe(
    request=ChatRequest,
    response_content=lines_or_object(ChatResponse),
    components=[ChatResponse],
    responses=ERRORS,
    tags=TAGS,
)
@ollama_route
async def chat(request: Request) -> Response:
    """``POST /api/chat``."""
    body = await decode(request, ChatRequest)
    model_id = model_id_of(request, body.model)
    keep_alive = translate.keep_alive_seconds(body.keep_alive)
    runtime_of(request).models.request_keep_alive(model_id, keep_alive)
    name = body.model
    if not body.messages:
        reason = await _load_or_unload(request, model_id, keep_alive)
        return MsgspecResponse(
            ChatResponse(
                model=name,
                created_at=translate.now(),
                message=AssistantMessage(role="assistant", content=""),
                done=True,
                done_reason=reason,
            )
        )

    def render(text: str, reason: str | None, timings: Timings | None) -> msgspec.Struct:
        return ChatResponse(
            model=name,
            created_at=translate.now(),
            message=AssistantMessage(role="assistant", content=text),
            done=reason is not None,
            done_reason=reason,
            **(msgspec.structs.asdict(timings) if timings else {}),
        )

    typed = translate.chat_request(body)
    return await _generation(
        request, model_id, tasks.CHAT, typed, stream=body.stream, render=render
    )


@describe(
    request=GenerateRequest,
    response_content=lines_or_object(GenerateResponse),
    components=[GenerateResponse],
    responses=ERRORS,
    tags=TAGS,
)
@ollama_route
async def generate(request: Request) -> Response:
    """``POST /api/generate``."""
    body = await decode(request, GenerateRequest)
    model_id = model_id_of(request, body.model)
    keep_alive = translate.keep_alive_seconds(body.keep_alive)
    runtime_of(request).models.request_keep_alive(model_id, keep_alive)
    name = body.model
    if not body.prompt and not body.images:
        reason = await _load_or_unload(request, model_id, keep_alive)
        return MsgspecResponse(
            GenerateResponse(
                model=name, created_at=translate.now(), response="", done=True, done_reason=reason
            )
        )

    def render(text: str, reason: str | None, timings: Timings | None) -> msgspec.Struct:
        return GenerateResponse(
            model=name,
            created_at=translate.now(),
            response=text,
            done=reason is not None,
            done_reason=reason,
            **(msgspec.structs.asdict(timings) if timings else {}),
        )

    task, inputs, parameters = translate.generate_request(body)
    return await _generation(
        request, model_id, task, (inputs, parameters), stream=body.stream, render=render
    )


# --- embeddings ---------------------------------------------------------------------


async def _embed(
    request: Request, model_id: str, texts: list[str], truncate: bool
) -> tuple[list[list[float]], int, int, int]:
    """The vectors of ``texts``, the prompt's tokens, and the load and total ns."""
    runtime = runtime_of(request)
    started = time.perf_counter()
    was_loaded = runtime.models.is_loaded(model_id)
    service = runtime.inference
    prepared = service.preparer.prepare_typed(
        model_id,
        tasks.EMBEDDING,
        (EmbeddingInput(texts=texts), EmbeddingParameters(truncate=truncate)),
        request_id=request_id_of(request.scope),
    )
    response = await until_disconnected(request, service.run(prepared))
    load_ms = 0.0 if was_loaded else runtime.models.last_load_ms(model_id) or 0.0
    usage = response.outputs.usage or Usage()
    total_ns = int((time.perf_counter() - started) * 1e9)
    return response.outputs.embeddings, usage.prompt_tokens, int(load_ms * 1e6), total_ns


@describe(request=EmbedRequest, response=EmbedResponse, responses=ERRORS, tags=TAGS)
@ollama_route
async def embed(request: Request) -> Response:
    """``POST /api/embed``."""
    body = await decode(request, EmbedRequest)
    model_id = model_id_of(request, body.model)
    runtime_of(request).models.request_keep_alive(
        model_id, translate.keep_alive_seconds(body.keep_alive)
    )
    texts = [body.input] if isinstance(body.input, str) else list(body.input)
    if not texts:
        raise BadRequest("input must not be empty", param="$.input")
    vectors, tokens, load_ns, total_ns = await _embed(request, model_id, texts, body.truncate)
    spec = runtime_of(request).catalog.get(model_id).spec
    vectors = shorten(vectors, body.dimensions, spec, param="$.dimensions")
    return MsgspecResponse(
        EmbedResponse(
            model=body.model,
            embeddings=vectors,
            total_duration=total_ns,
            load_duration=load_ns,
            prompt_eval_count=tokens,
        )
    )


@describe(request=EmbeddingsRequest, response=EmbeddingsResponse, responses=ERRORS, tags=TAGS)
@ollama_route
async def embeddings(request: Request) -> Response:
    """``POST /api/embeddings``: one prompt, one vector (Ollama's older route)."""
    body = await decode(request, EmbeddingsRequest)
    model_id = model_id_of(request, body.model)
    runtime_of(request).models.request_keep_alive(
        model_id, translate.keep_alive_seconds(body.keep_alive)
    )
    vectors, *_ = await _embed(request, model_id, [body.prompt], True)
    return MsgspecResponse(EmbeddingsResponse(embedding=vectors[0]))


routes = [
    Route("/api/chat", chat, methods=["POST"]),
    Route("/api/generate", generate, methods=["POST"]),
    Route("/api/embed", embed, methods=["POST"]),
    Route("/api/embeddings", embeddings, methods=["POST"]),
]
