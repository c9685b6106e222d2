"""The Ollama-compatible API: ``/api/chat``, ``/api/generate``, ``/api/embed``,
``/api/embeddings``, ``/api/tags``, ``/api/ps``, ``/api/show``, ``/api/pull``,
``/api/delete``, ``/api/version``, and ``/`` ("Ollama is running").

Requests are translated once (:mod:`altlas.ollama.translate`) and go through the one
inference pipeline, as ``/v1``'s do. Chat and generate always stream from the model, so
the timing fields are measured (the first token's arrival splits the prompt's
evaluation from the generation); ``stream: false`` gathers the chunks into one object.
Streams are newline-delimited JSON. Errors are Ollama's ``{"error": "..."}`` with the
service's statuses; an error after a stream started is one last ``{"error"}`` line.
"""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from altlas import __version__
from altlas.http import sse
from altlas.http.bodies import MALFORMED_JSON
from altlas.http.disconnect import until_disconnected
from altlas.http.errors import request_id_of
from altlas.http.responses import MsgspecResponse
from altlas.inference.stream import InferenceStream
from altlas.ollama import names, pull, translate
from altlas.ollama.listing import listed, ps_entry, show
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
    ModelListing,
    ModelRequest,
    Timings,
    VersionResponse,
)
from altlas.openai.dimensions import shorten
from altlas.runtime import Runtime
from altlas.security.principal import current_principal, require_model
from altlas_sdk import tasks
from altlas_sdk.errors import AltlasError, BadRequest
from altlas_sdk.tasks import EmbeddingInput, EmbeddingParameters, Usage

T = TypeVar("T")
NDJSON = "application/x-ndjson"
#: The tasks Ollama's clients know: /api/tags lists only the models serving one.
_OLLAMA_TASKS = frozenset({tasks.CHAT, tasks.TEXT_GENERATION, tasks.EMBEDDING})
_encoder = msgspec.json.Encoder()


def _error_body(error: AltlasError) -> dict[str, str]:
    return {"error": error.message}


def ollama_route(
    endpoint: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """Answer the errors ``endpoint`` raises in Ollama's shape, ``{"error": "..."}``."""

    @functools.wraps(endpoint)
    async def wrapped(request: Request) -> Response:
        try:
            return await endpoint(request)
        except AltlasError as error:
            return JSONResponse(_error_body(error), status_code=error.status, headers=error.headers)

    return wrapped


async def _body(request: Request, kind: type[T]) -> T:
    try:
        return msgspec.json.decode(await request.body(), type=kind)
    except msgspec.ValidationError as error:
        raise BadRequest(f"invalid request: {error}") from None
    except MALFORMED_JSON as error:
        raise BadRequest(f"invalid JSON: {error}") from None


def _runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def _model_id(request: Request, name: str | None) -> str:
    if not name:
        raise BadRequest("model is required", param="$.model")
    model_id = names.resolve(_runtime(request).catalog, name)
    require_model(model_id)
    return model_id


def _line(payload: msgspec.Struct | dict[str, Any]) -> bytes:
    return _encoder.encode(payload) + b"\n"


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
    runtime = _runtime(request)
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
                yield _line(render(piece, None, None))
        yield _line(final(last, ""))

    return sse.stream_response(
        chunks, lines(), error_event=lambda error: _line(_error_body(error)), media_type=NDJSON
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
    manager = _runtime(request).models
    if keep_alive == 0:
        if manager.is_loaded(model_id):
            await manager.unload_model(model_id)
        return "unload"
    await manager.load_model(model_id)
    return "load"


@ollama_route
async def chat(request: Request) -> Response:
    """``POST /api/chat``."""
    body = await _body(request, ChatRequest)
    model_id = _model_id(request, body.model)
    keep_alive = translate.keep_alive_seconds(body.keep_alive)
    _runtime(request).models.request_keep_alive(model_id, keep_alive)
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


@ollama_route
async def generate(request: Request) -> Response:
    """``POST /api/generate``."""
    body = await _body(request, GenerateRequest)
    model_id = _model_id(request, body.model)
    keep_alive = translate.keep_alive_seconds(body.keep_alive)
    _runtime(request).models.request_keep_alive(model_id, keep_alive)
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
    runtime = _runtime(request)
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


@ollama_route
async def embed(request: Request) -> Response:
    """``POST /api/embed``."""
    body = await _body(request, EmbedRequest)
    model_id = _model_id(request, body.model)
    _runtime(request).models.request_keep_alive(
        model_id, translate.keep_alive_seconds(body.keep_alive)
    )
    texts = [body.input] if isinstance(body.input, str) else list(body.input)
    if not texts:
        raise BadRequest("input must not be empty", param="$.input")
    vectors, tokens, load_ns, total_ns = await _embed(request, model_id, texts, body.truncate)
    spec = _runtime(request).catalog.get(model_id).spec
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


@ollama_route
async def embeddings(request: Request) -> Response:
    """``POST /api/embeddings``: one prompt, one vector (Ollama's older route)."""
    body = await _body(request, EmbeddingsRequest)
    model_id = _model_id(request, body.model)
    _runtime(request).models.request_keep_alive(
        model_id, translate.keep_alive_seconds(body.keep_alive)
    )
    vectors, *_ = await _embed(request, model_id, [body.prompt], True)
    return MsgspecResponse(EmbeddingsResponse(embedding=vectors[0]))


# --- models -------------------------------------------------------------------------


@ollama_route
async def tags(request: Request) -> Response:
    """``GET /api/tags``: the models of Ollama's kinds (chat, generation, embeddings)
    that can run now (weights present, backend installed)."""
    runtime = _runtime(request)
    principal = current_principal()
    return MsgspecResponse(
        ModelListing(
            models=[
                listed(runtime, entry.spec)
                for entry in runtime.catalog
                if principal.may_use(entry.spec.id)
                and _OLLAMA_TASKS.intersection(entry.spec.tasks)
                and runtime.models.status(entry.spec.id).state
                not in ("weights_missing", "unavailable")
            ]
        )
    )


@ollama_route
async def ps(request: Request) -> Response:
    """``GET /api/ps``: the models in memory, their size and when they unload."""
    runtime = _runtime(request)
    principal = current_principal()
    return MsgspecResponse(
        ModelListing(
            models=[
                ps_entry(runtime, entry.spec)
                for entry in runtime.catalog
                if runtime.models.is_loaded(entry.spec.id) and principal.may_use(entry.spec.id)
            ]
        )
    )


@ollama_route
async def show_model(request: Request) -> Response:
    """``POST /api/show``."""
    body = await _body(request, ModelRequest)
    model_id = _model_id(request, body.model or body.name)
    return MsgspecResponse(show(_runtime(request), model_id))


@ollama_route
async def pull_model(request: Request) -> Response:
    """``POST /api/pull``: make a catalog model's files local, with Ollama's progress
    objects (one object with ``stream: false``)."""
    body = await _body(request, ModelRequest)
    runtime = _runtime(request)
    model_id = _model_id(request, body.model or body.name)
    steps = aiter(pull.pull(runtime.resolver, runtime.catalog.get(model_id).spec))
    first = await anext(steps)
    if not body.stream:
        progress = [first, *[step async for step in steps]]
        return MsgspecResponse(progress[-1])

    async def lines() -> AsyncIterator[bytes]:
        yield _line(first)
        try:
            async for step in steps:
                yield _line(step)
        except AltlasError as error:
            yield _line(_error_body(error))

    return StreamingResponse(lines(), media_type=NDJSON)


@ollama_route
async def delete_model(request: Request) -> Response:
    """``DELETE /api/delete``: remove the files a pull downloaded into CACHE_DIR."""
    body = await _body(request, ModelRequest)
    runtime = _runtime(request)
    model_id = _model_id(request, body.model or body.name)
    await pull.delete(runtime.models, runtime.resolver, runtime.catalog.get(model_id).spec)
    return Response(status_code=200)


async def version(request: Request) -> Response:
    """``GET /api/version``: the service's version."""
    return MsgspecResponse(VersionResponse(version=__version__))


async def root(request: Request) -> Response:
    """``GET /`` and ``HEAD /``: how Ollama's clients check that a server runs."""
    return PlainTextResponse("Ollama is running")


routes = [
    Route("/", root, methods=["GET", "HEAD"]),
    Route("/api/version", version, methods=["GET"]),
    Route("/api/tags", tags, methods=["GET"]),
    Route("/api/ps", ps, methods=["GET"]),
    Route("/api/show", show_model, methods=["POST"]),
    Route("/api/chat", chat, methods=["POST"]),
    Route("/api/generate", generate, methods=["POST"]),
    Route("/api/embed", embed, methods=["POST"]),
    Route("/api/embeddings", embeddings, methods=["POST"]),
    Route("/api/pull", pull_model, methods=["POST"]),
    Route("/api/delete", delete_model, methods=["DELETE"]),
]
