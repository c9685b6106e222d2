"""Models API: list, info, load, unload, status."""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from altlas.http.bodies import decode_json
from altlas.http.openapi import describe
from altlas.http.responses import MsgspecResponse
from altlas.runtime import Runtime
from altlas.security.audit import ACTION_STATE
from altlas.security.principal import current_principal, require_model
from altlas_sdk.wire import LoadRequest, ModelInfo, ModelList, ModelStatus


def _runtime(request: Request) -> Runtime:
    return request.app.state.runtime


@describe(response=ModelList, tags=["models"])
async def list_models(request: Request) -> MsgspecResponse:
    """``GET /api/models/``: every model with its state (those the API key may use)."""
    principal = current_principal()
    models = [m for m in _runtime(request).models.list_models() if principal.may_use(m.id)]
    return MsgspecResponse(ModelList(models=models))


def _model_id(request: Request) -> str:
    """The path's model id, once the API key is known to be allowed to use it."""
    model_id = request.path_params["model_id"]
    require_model(model_id, param=None)
    return model_id


@describe(response=ModelInfo, errors=[404], tags=["models"])
async def model_info(request: Request) -> MsgspecResponse:
    """``GET /api/models/{model_id}``."""
    return MsgspecResponse(_runtime(request).models.info(_model_id(request)))


@describe(response=ModelStatus, errors=[404], tags=["models"])
async def model_status(request: Request) -> MsgspecResponse:
    """``GET /api/models/{model_id}/status``."""
    return MsgspecResponse(_runtime(request).models.status(_model_id(request)))


@describe(
    request=LoadRequest,
    request_required=False,
    response=ModelStatus,
    errors=[404, 409, 507],
    tags=["models"],
)
async def load_model(request: Request) -> MsgspecResponse:
    """``POST /api/models/{model_id}/load``: returns when the model is loaded. An
    optional body ``{"pin": true}`` pins it."""
    model_id = _model_id(request)
    body = await decode_json(request, LoadRequest, optional=True)
    if body is not None and body.pin:
        request.scope["state"][ACTION_STATE] = "pin"
    status = await _runtime(request).models.load_model(
        model_id, pin=body.pin if body is not None else None
    )
    return MsgspecResponse(status)


@describe(response=ModelStatus, errors=[404], tags=["models"])
async def unload_model(request: Request) -> MsgspecResponse:
    """``POST /api/models/{model_id}/unload``."""
    status = await _runtime(request).models.unload_model(_model_id(request))
    return MsgspecResponse(status)


routes = [
    Route("/api/models", list_models, methods=["GET"]),
    Route("/api/models/", list_models, methods=["GET"]),
    Route("/api/models/{model_id}", model_info, methods=["GET"]),
    Route("/api/models/{model_id}/status", model_status, methods=["GET"]),
    Route("/api/models/{model_id}/load", load_model, methods=["POST"]),
    Route("/api/models/{model_id}/unload", unload_model, methods=["POST"]),
]
