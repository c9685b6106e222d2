"""The Ollama-compatible model routes: ``/api/tags``, ``/api/ps``, ``/api/show``,
``/api/pull``, ``/api/delete``, ``/api/version``, and ``GET``/``HEAD /`` ("Ollama is
running", how Ollama's clients check for a server). See docs/ollama.md.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from altlas import __version__
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
from altlas.ollama import pull
from altlas.ollama.listing import listed, ps_entry, show
from altlas.ollama.types import (
    ModelListing,
    ModelRequest,
    ProgressResponse,
    ShowResponse,
    VersionResponse,
)
from altlas.security.principal import current_principal
from altlas_sdk import tasks
from altlas_sdk.errors import AltlasError

#: The tasks Ollama's clients know: /api/tags lists only the models serving one.
_OLLAMA_TASKS = frozenset({tasks.CHAT, tasks.TEXT_GENERATION, tasks.EMBEDDING})


@describe(response=ModelListing, tags=TAGS)
@ollama_route
async def tags(request: Request) -> Response:
    """``GET /api/tags``: the models of Ollama's kinds (chat, generation, embeddings)
    that can run now (weights present, backend installed)."""
    runtime = runtime_of(request)
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


@describe(response=ModelListing, tags=TAGS)
@ollama_route
async def ps(request: Request) -> Response:
    """``GET /api/ps``: the models in memory, their size and when they unload."""
    runtime = runtime_of(request)
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


@describe(request=ModelRequest, response=ShowResponse, responses=ERRORS, tags=TAGS)
@ollama_route
async def show_model(request: Request) -> Response:
    """``POST /api/show``."""
    body = await decode(request, ModelRequest)
    model_id = model_id_of(request, body.model or body.name)
    return MsgspecResponse(show(runtime_of(request), model_id))


@describe(
    request=ModelRequest,
    response_content=lines_or_object(ProgressResponse),
    components=[ProgressResponse],
    responses=ERRORS,
    tags=TAGS,
)
@ollama_route
async def pull_model(request: Request) -> Response:
    """``POST /api/pull``: make a catalog model's files local, with Ollama's progress
    objects (one object with ``stream: false``)."""
    body = await decode(request, ModelRequest)
    runtime = runtime_of(request)
    model_id = model_id_of(request, body.model or body.name)
    steps = aiter(pull.pull(runtime.resolver, runtime.catalog.get(model_id).spec))
    first = await anext(steps)
    if not body.stream:
        progress = [first, *[step async for step in steps]]
        return MsgspecResponse(progress[-1])

    async def lines() -> AsyncIterator[bytes]:
        yield line(first)
        try:
            async for step in steps:
                yield line(step)
        except AltlasError as error:
            yield line(error_body(error))

    return StreamingResponse(lines(), media_type=NDJSON)


@describe(request=ModelRequest, responses=ERRORS, tags=TAGS)
@ollama_route
async def delete_model(request: Request) -> Response:
    """``DELETE /api/delete``: remove the files a pull downloaded into CACHE_DIR."""
    body = await decode(request, ModelRequest)
    runtime = runtime_of(request)
    model_id = model_id_of(request, body.model or body.name)
    await pull.delete(runtime.models, runtime.resolver, runtime.catalog.get(model_id).spec)
    return Response(status_code=200)


@describe(response=VersionResponse, tags=TAGS)
async def version(request: Request) -> Response:
    """``GET /api/version``: the service's version."""
    return MsgspecResponse(VersionResponse(version=__version__))


@describe(
    response_content={"text/plain": {"schema": {"type": "string", "const": "Ollama is running"}}},
    tags=TAGS,
)
async def root(request: Request) -> Response:
    """``GET /`` and ``HEAD /``: how Ollama's clients check that a server runs."""
    return PlainTextResponse("Ollama is running")


routes = [
    Route("/", root, methods=["GET", "HEAD"]),
    Route("/api/version", version, methods=["GET"]),
    Route("/api/tags", tags, methods=["GET"]),
    Route("/api/ps", ps, methods=["GET"]),
    Route("/api/show", show_model, methods=["POST"]),
    Route("/api/pull", pull_model, methods=["POST"]),
    Route("/api/delete", delete_model, methods=["DELETE"]),
]
