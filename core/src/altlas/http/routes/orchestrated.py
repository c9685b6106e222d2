"""Orchestrated inference: the service chooses the model(s) for a request."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from altlas.http import sse
from altlas.http.bodies import decode_json
from altlas.http.disconnect import until_disconnected
from altlas.http.errors import error_body, request_id_of
from altlas.http.openapi import REF_TEMPLATE, describe
from altlas.http.responses import MsgspecResponse
from altlas.orchestration.orchestrator import OrchestratedStream
from altlas.orchestration.wire import OrchestratedRequest, OrchestratedResponse, StreamOpening


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


def _events(request: Request, stream: OrchestratedStream) -> Response:
    opening = StreamOpening(
        model_id=stream.model_id,
        task=stream.task,
        request_id=stream.request_id,
        orchestration=stream.orchestration,
    )

    async def frames() -> AsyncIterator[bytes]:
        yield sse.event(opening, name="orchestration")
        async for chunk in sse.chunks(stream.first, stream.rest):
            yield sse.event(chunk)
        yield b"data: [DONE]\n\n"

    return sse.stream_response(
        stream,
        frames(),
        error_event=lambda error: sse.event(error_body(error, request.scope), name="error"),
    )


routes = [Route("/api/inference/orchestrated", run_orchestrated, methods=["POST"])]
