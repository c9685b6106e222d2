"""Batch and parallel inference: several requests, or several models, in one call."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from altlas.http.bodies import decode_json
from altlas.http.disconnect import until_disconnected
from altlas.http.errors import error_body, request_id_of
from altlas.http.openapi import describe
from altlas.http.responses import MsgspecResponse
from altlas.inference.batch import (
    BatchRequest,
    BatchResponse,
    BatchRunner,
    Outcome,
    ParallelRequest,
    ParallelResponse,
)
from altlas_sdk.errors import AltlasError
from altlas_sdk.wire import ErrorBody, InferenceResponse

_SLOT_TYPES = (InferenceResponse, ErrorBody)


def _slot(outcome: Outcome, request: Request) -> Any:
    if isinstance(outcome, AltlasError):
        return error_body(outcome, request.scope)
    return outcome


@describe(request=BatchRequest, response=BatchResponse, components=_SLOT_TYPES, tags=["inference"])
async def run_batch(request: Request) -> MsgspecResponse:
    """``POST /api/inference/batch``: independent requests, one result or error each, in
    order. Requests to one model run as one native batch where the backend has one. A
    client that leaves cancels what has not finished."""
    body = await decode_json(request, BatchRequest)
    assert body is not None
    runner = BatchRunner(request.app.state.runtime.inference)
    outcomes = await until_disconnected(
        request, runner.run_batch(body.requests, request_id=request_id_of(request.scope))
    )
    return MsgspecResponse(BatchResponse(results=[_slot(o, request) for o in outcomes]))


@describe(
    request=ParallelRequest, response=ParallelResponse, components=_SLOT_TYPES, tags=["inference"]
)
async def run_parallel(request: Request) -> MsgspecResponse:
    """``POST /api/inference/parallel``: one input on several models at once, one result or
    error per model."""
    body = await decode_json(request, ParallelRequest)
    assert body is not None
    runner = BatchRunner(request.app.state.runtime.inference)
    outcomes = await until_disconnected(
        request, runner.run_parallel(body, request_id=request_id_of(request.scope))
    )
    return MsgspecResponse(
        ParallelResponse(results={m: _slot(o, request) for m, o in outcomes.items()})
    )


routes = [
    Route("/api/inference/batch", run_batch, methods=["POST"]),
    Route("/api/inference/parallel", run_parallel, methods=["POST"]),
]
