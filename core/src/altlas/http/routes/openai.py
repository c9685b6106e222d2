"""The OpenAI-compatible API under ``/v1``: models, chat completions, completions and
embeddings, served by whichever backend runs the named model.

Requests and responses follow OpenAI's API reference (see :mod:`altlas.openai.types`);
errors are the one error body, with OpenAI's statuses (:mod:`altlas.http.openai_errors`).
A streamed request waits for its first chunk before it answers, so that an early
failure (unknown model, full queue, bad input) is an ordinary error response; a failure
after that ends the stream with an error event. When the client goes away, generation
stops at the next token and the model's slot frees.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from altlas.http import sse
from altlas.http.bodies import require_json
from altlas.http.disconnect import until_disconnected
from altlas.http.errors import request_id_of
from altlas.http.openai_errors import decode_openai, openai_error, openai_route, sse_error_event
from altlas.http.openapi import REF_TEMPLATE, describe
from altlas.http.responses import MsgspecResponse
from altlas.inference.prepare import PreparedRequest
from altlas.inference.service import InferenceService
from altlas.inference.stream import InferenceStream
from altlas.openai import translate
from altlas.openai.streaming import DONE, ChatChunks, CompletionChunks
from altlas.openai.types import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    Completion,
    CompletionRequest,
    CreateEmbeddingResponse,
    EmbeddingRequest,
    Model,
    ModelList,
)
from altlas.security.principal import current_principal, require_model
from altlas_sdk import tasks
from altlas_sdk.errors import ModelNotFound, NotFound
from altlas_sdk.wire import ModelInfo

# Models are "created" when the service started, as far as /v1/models can tell.
_STARTED = int(time.time())
_NOT_RUNNABLE = {"weights_missing", "unavailable"}
# Statuses a /v1 inference route answers besides the common ones: no such model, a model
# that cannot run, a full queue, no memory for it.
_ERRORS = (404, 409, 503, 507)
_TAGS = ("openai",)


def _json_or_events(response: type, chunk: type) -> dict[str, object]:
    """The 200 of a route that answers JSON, or server-sent events with ``stream``."""
    return {
        "application/json": {"schema": {"$ref": REF_TEMPLATE.format(name=response.__name__)}},
        "text/event-stream": {
            "schema": {
                "type": "string",
                "description": f"`data: <{chunk.__name__}>` events, then `data: [DONE]`",
            }
        },
    }


def _model(info: ModelInfo) -> Model:
    loaded_at = info.status.loaded_at
    created = int(loaded_at) if loaded_at else _STARTED
    return Model(id=info.id, created=created, owned_by=info.provided_by)


@describe(response=ModelList, tags=_TAGS)
async def list_models(request: Request) -> Response:
    """``GET /v1/models``: the models that can run now (weights present, backend
    installed)."""
    infos = request.app.state.runtime.models.list_models()
    principal = current_principal()
    return MsgspecResponse(
        ModelList(
            data=[
                _model(info)
                for info in infos
                if info.status.state not in _NOT_RUNNABLE and principal.may_use(info.id)
            ]
        )
    )


@describe(response=Model, errors=[404], tags=_TAGS)
async def retrieve_model(request: Request) -> Response:
    """``GET /v1/models/{model}``: one catalog model."""
    model_id = request.path_params["model"]
    require_model(model_id, param=None)
    try:
        info = request.app.state.runtime.models.info(model_id)
    except ModelNotFound:
        raise NotFound(
            f"model '{model_id}' not found; GET /v1/models lists the models",
            param="model",
            code="model_not_found",
        ) from None
    return MsgspecResponse(_model(info))


async def _body(request: Request, kind: type) -> object:
    require_json(request)
    return decode_openai(await request.body(), kind)


def _prepare(
    request: Request,
    model: str,
    task: str,
    typed: tuple[msgspec.Struct, msgspec.Struct],
) -> tuple[InferenceService, PreparedRequest]:
    """The pipeline and the prepared request of a translated ``/v1`` request."""
    service: InferenceService = request.app.state.runtime.inference
    prepared = service.preparer.prepare_typed(
        model, task, typed, request_id=request_id_of(request.scope)
    )
    return service, prepared


@describe(
    request=ChatCompletionRequest,
    response_content=_json_or_events(ChatCompletion, ChatCompletionChunk),
    components=[ChatCompletion, ChatCompletionChunk],
    errors=_ERRORS,
    tags=_TAGS,
)
@openai_route({"$.inputs.messages": "$.messages", "$.inputs": "$.messages"})
async def chat_completions(request: Request) -> Response:
    """``POST /v1/chat/completions``."""
    body = await _body(request, ChatCompletionRequest)
    assert isinstance(body, ChatCompletionRequest)
    inputs, parameters = translate.chat_request(body)
    with_tools = parameters.tool_calls is not None
    service, prepared = _prepare(request, body.model, tasks.CHAT, (inputs, parameters))
    completion_id, created = f"chatcmpl-{prepared.request_id}", int(time.time())
    if not body.stream:
        response = await until_disconnected(request, service.run(prepared))
        return MsgspecResponse(
            translate.chat_completion(
                response.outputs,
                id=completion_id,
                created=created,
                model=response.model_id,
                with_tools=with_tools,
            )
        )
    stream = await service.stream(prepared)
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    chunks = ChatChunks(completion_id, created, stream.model_id, include_usage, with_tools)
    return await _event_stream(request, stream, chunks.events, opening=chunks.opening())


@describe(
    request=CompletionRequest,
    response_content=_json_or_events(Completion, Completion),
    components=[Completion],
    errors=_ERRORS,
    tags=_TAGS,
)
@openai_route({"$.inputs.prompt": "$.prompt", "$.inputs": "$.prompt"})
async def completions(request: Request) -> Response:
    """``POST /v1/completions``."""
    body = await _body(request, CompletionRequest)
    assert isinstance(body, CompletionRequest)
    inputs, parameters = translate.completion_request(body)
    service, prepared = _prepare(request, body.model, tasks.TEXT_GENERATION, (inputs, parameters))
    completion_id, created = f"cmpl-{prepared.request_id}", int(time.time())
    if not body.stream:
        response = await until_disconnected(request, service.run(prepared))
        return MsgspecResponse(
            translate.completion(
                response.outputs,
                id=completion_id,
                created=created,
                model=response.model_id,
                echo=inputs.prompt if body.echo else None,
            )
        )
    stream = await service.stream(prepared)
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    chunks = CompletionChunks(completion_id, created, stream.model_id, include_usage)
    opening = chunks.echo(inputs.prompt) if body.echo else None
    return await _event_stream(request, stream, chunks.events, opening=opening)


@describe(request=EmbeddingRequest, response=CreateEmbeddingResponse, errors=_ERRORS, tags=_TAGS)
@openai_route({"$.inputs.texts": "$.input", "$.inputs": "$.input"})
async def embeddings(request: Request) -> Response:
    """``POST /v1/embeddings``: served by any model with the ``embedding`` task."""
    body = await _body(request, EmbeddingRequest)
    assert isinstance(body, EmbeddingRequest)
    service, prepared = _prepare(
        request, body.model, tasks.EMBEDDING, translate.embedding_request(body)
    )
    response = await until_disconnected(request, service.run(prepared))
    return MsgspecResponse(translate.embeddings(response.outputs, body, spec=prepared.spec))


async def _event_stream(
    request: Request,
    stream: InferenceStream,
    events: Callable[..., list[bytes]],
    *,
    opening: bytes | None,
) -> Response:
    first, rest = await sse.first_chunk(request, stream)

    async def frames() -> AsyncIterator[bytes]:
        if opening is not None:
            yield opening
        async for chunk in sse.chunks(first, rest):
            for frame in events(chunk):
                yield frame
        yield DONE

    return sse.stream_response(
        stream,
        frames(),
        error_event=lambda error: sse_error_event(openai_error(error), request),
    )


routes = [
    Route("/v1/models", list_models, methods=["GET"]),
    Route("/v1/models/{model:path}", retrieve_model, methods=["GET"]),
    Route("/v1/chat/completions", chat_completions, methods=["POST"]),
    Route("/v1/completions", completions, methods=["POST"]),
    Route("/v1/embeddings", embeddings, methods=["POST"]),
]
