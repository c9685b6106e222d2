"""What every Ollama-compatible route shares: Ollama's error body, request decoding,
model names, NDJSON lines and the OpenAPI pieces."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from altlas.http.bodies import MALFORMED_JSON
from altlas.http.openapi import REF_TEMPLATE
from altlas.ollama import names
from altlas.ollama.types import OllamaError
from altlas.runtime import Runtime
from altlas.security.principal import require_model
from altlas_sdk.errors import AltlasError, BadRequest

T = TypeVar("T")
NDJSON = "application/x-ndjson"
_encoder = msgspec.json.Encoder()


TAGS = ("ollama",)
# Ollama's error body for the statuses the routes answer themselves; the middleware's
# refusals (401, 413...) keep the service's one error body.
ERRORS = {status: OllamaError for status in (400, 404, 409, 503, 507)}


def lines_or_object(kind: type) -> dict[str, object]:
    """The 200 of a route that streams NDJSON, or answers one object with
    ``stream: false``."""
    schema = {"$ref": REF_TEMPLATE.format(name=kind.__name__)}
    return {
        NDJSON: {"schema": {"type": "string", "description": f"<{kind.__name__}> lines"}},
        "application/json": {"schema": schema},
    }


def error_body(error: AltlasError) -> dict[str, str]:
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
            return JSONResponse(error_body(error), status_code=error.status, headers=error.headers)

    return wrapped


async def decode(request: Request, kind: type[T]) -> T:
    try:
        return msgspec.json.decode(await request.body(), type=kind)
    except msgspec.ValidationError as error:
        raise BadRequest(f"invalid request: {error}") from None
    except MALFORMED_JSON as error:
        raise BadRequest(f"invalid JSON: {error}") from None


def runtime_of(request: Request) -> Runtime:
    return request.app.state.runtime


def model_id_of(request: Request, name: str | None) -> str:
    if not name:
        raise BadRequest("model is required", param="$.model")
    model_id = names.resolve(runtime_of(request).catalog, name)
    require_model(model_id)
    return model_id


def line(payload: msgspec.Struct | dict[str, Any]) -> bytes:
    return _encoder.encode(payload) + b"\n"
