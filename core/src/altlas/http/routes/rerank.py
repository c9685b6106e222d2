"""``POST /v1/rerank`` and ``POST /rerank``: the shared rerank API (see
:mod:`altlas.openai.rerank`), through the one inference pipeline. Errors read as on
``/v1`` (:mod:`altlas.http.openai_errors`)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from altlas.http.bodies import require_json
from altlas.http.disconnect import until_disconnected
from altlas.http.errors import request_id_of
from altlas.http.openai_errors import decode_openai, openai_route
from altlas.http.openapi import describe
from altlas.http.responses import MsgspecResponse
from altlas.inference.service import InferenceService
from altlas.openai.rerank import RerankRequest, RerankResponse, rerank_request, rerank_response
from altlas_sdk import tasks


@describe(
    request=RerankRequest, response=RerankResponse, errors=(404, 409, 503, 507), tags=("rerank",)
)
@openai_route({"$.inputs.documents": "$.documents", "$.inputs.query": "$.query"})
async def rerank(request: Request) -> Response:
    """``POST /v1/rerank`` (also ``/rerank``): documents scored by relevance to a
    query, best first."""
    require_json(request)
    body = decode_openai(await request.body(), RerankRequest)
    service: InferenceService = request.app.state.runtime.inference
    prepared = service.preparer.prepare_typed(
        body.model, tasks.RERANK, rerank_request(body), request_id=request_id_of(request.scope)
    )
    response = await until_disconnected(request, service.run(prepared))
    return MsgspecResponse(
        rerank_response(
            response.outputs, id=f"rerank-{prepared.request_id}", model=response.model_id
        )
    )


routes = [
    Route("/v1/rerank", rerank, methods=["POST"]),
    Route("/rerank", rerank, methods=["POST"]),
]
