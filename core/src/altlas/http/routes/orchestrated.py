"""Orchestrated inference: the service chooses the model(s) for a request."""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from altlas.http.bodies import decode_json
from altlas.http.disconnect import until_disconnected
from altlas.http.errors import request_id_of
from altlas.http.openapi import describe
from altlas.http.responses import MsgspecResponse
from altlas.orchestration.wire import OrchestratedRequest, OrchestratedResponse


@describe(
    request=OrchestratedRequest,
    response=OrchestratedResponse,
    errors=[404, 503, 507],
    tags=["inference"],
)
async def run_orchestrated(request: Request) -> MsgspecResponse:
    """``POST /api/inference/orchestrated``: the best model for the task by a selection
    strategy, with fallback down the ranking, or an ensemble of several. The response's
    ``orchestration`` says which models ran and why."""
    body = await decode_json(request, OrchestratedRequest)
    assert body is not None
    orchestrator = request.app.state.runtime.orchestrator
    response = await until_disconnected(
        request, orchestrator.run(body, request_id=request_id_of(request.scope))
    )
    request.scope.setdefault("state", {})["model_id"] = response.model_id
    return MsgspecResponse(response)


routes = [Route("/api/inference/orchestrated", run_orchestrated, methods=["POST"])]
