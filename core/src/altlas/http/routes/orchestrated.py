"""Orchestrated inference: the service chooses the model(s) for a request."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator

import msgspec
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from altlas.http.bodies import decode_json
from altlas.http.disconnect import until_disconnected
from altlas.http.errors import error_body, request_id_of
from altlas.http.openapi import REF_TEMPLATE, describe
from altlas.http.responses import MsgspecResponse
from altlas.orchestration.orchestrator import OrchestratedStream
from altlas.orchestration.wire import OrchestratedRequest, OrchestratedResponse, StreamOpening
from altlas_sdk.errors import AltlasError, InternalError

logger = logging.getLogger(__name__)

_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@describe(
    request=OrchestratedRequest,
    response=OrchestratedResponse,
    response_content={
        "application/json": {"schema": {"$ref": REF_TEMPLATE.format(name="OrchestratedResponse")}},
        # With "stream": true: an `orchestration` event (StreamOpening), one `data`
        # event per output chunk, then `data: [DONE]` or an `error` event.
        "text/event-stream": {"schema": {"type": "string"}},
    },
    components=[StreamOpening],
    errors=[404, 503, 507],
    tags=["inference"],
)
async def run_orchestrated(request: Request) -> Response:
    """``POST /api/inference/orchestrated``: the best model for the task by a selection
    strategy, with fallback down the ranking, or an ensemble of several. The response's
    ``orchestration`` says which models ran and why."""
    body = await decode_json(request, OrchestratedRequest)
    assert body is not None
    orchestrator = request.app.state.runtime.orchestrator
    request_id = request_id_of(request.scope)
    if body.stream:
        stream = await until_disconnected(request, orchestrator.stream(body, request_id=request_id))
        request.scope.setdefault("state", {})["model_id"] = stream.model_id
        return _events(request, stream)
    response = await until_disconnected(request, orchestrator.run(body, request_id=request_id))
    request.scope.setdefault("state", {})["model_id"] = response.model_id
    return MsgspecResponse(response)


def _events(request: Request, stream: OrchestratedStream) -> StreamingResponse:
    opening = StreamOpening(
        model_id=stream.model_id,
        task=stream.task,
        request_id=stream.request_id,
        orchestration=stream.orchestration,
    )

    async def body() -> AsyncIterator[bytes]:
        try:
            yield b"event: orchestration\ndata: " + msgspec.json.encode(opening) + b"\n\n"
            if stream.first is not None:
                yield _data(stream.first)
            async for chunk in stream.rest:
                yield _data(chunk)
            yield b"data: [DONE]\n\n"
        except AltlasError as error:
            # Output has started: the failure is reported in the stream, never retried.
            yield _error(request, error)
        except Exception:
            error_id = uuid.uuid4().hex[:12]
            logger.exception("stream %s failed (error id %s)", stream.request_id, error_id)
            yield _error(request, InternalError(error_id))
        finally:
            await stream.aclose()

    return StreamingResponse(body(), media_type="text/event-stream", headers=_SSE_HEADERS)


def _data(chunk: msgspec.Struct) -> bytes:
    return b"data: " + msgspec.json.encode(chunk) + b"\n\n"


def _error(request: Request, error: AltlasError) -> bytes:
    return b"event: error\ndata: " + msgspec.json.encode(error_body(error, request.scope)) + b"\n\n"


routes = [Route("/api/inference/orchestrated", run_orchestrated, methods=["POST"])]
