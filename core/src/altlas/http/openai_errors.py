"""Errors on the ``/v1`` routes, in OpenAI's terms.

The body is the service's one error body, which is already a superset of OpenAI's
error object (``{"error": {"message", "type", "param", "code"}}`` plus ``request_id``).
Two things differ from ``/api``, because OpenAI's clients rely on them:

- an invalid field is ``400`` (OpenAI's status for invalid requests; its clients raise
  ``BadRequestError``), not ``422``;
- ``param`` names the field of the OpenAI request (``$.model``, ``$.messages``), not
  the internal request the route builds from it.

Routes of other ``/v1`` modules use :func:`openai_error` (or the :func:`openai_route`
decorator) and :func:`sse_error_event` the same way.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from altlas.http.bodies import MALFORMED_JSON, malformed_json
from altlas.http.errors import error_response
from altlas.inference.decode import validation_failed
from altlas_sdk.errors import (
    AltlasError,
    BadRequest,
    ModelNotFound,
    NotFound,
    ValidationFailed,
)

#: How the internal request's paths read in an OpenAI request, by default.
DEFAULT_PARAMS: Mapping[str, str] = {
    "$.model_id": "$.model",
    # The route names the task: a model that does not serve it is the wrong model.
    "$.task": "$.model",
    "$.parameters": "$",
}


def openai_param(param: str | None, renames: Mapping[str, str] = DEFAULT_PARAMS) -> str | None:
    """``param`` with the first matching prefix of ``renames`` replaced."""
    if param is None:
        return None
    for internal, public in sorted(renames.items(), key=lambda item: -len(item[0])):
        if param == internal or param.startswith((internal + ".", internal + "[")):
            return public + param[len(internal) :]
    return param


def openai_error(error: AltlasError, renames: Mapping[str, str] = DEFAULT_PARAMS) -> AltlasError:
    """``error`` as a ``/v1`` route reports it (see the module docstring)."""
    if isinstance(error, ModelNotFound):
        return NotFound(
            f"model '{error.model_id}' not found; GET /v1/models lists the models",
            param="$.model",
            code="model_not_found",
        )
    if isinstance(error, ValidationFailed):
        return BadRequest(
            error.message,
            param=openai_param(error.param, renames),
            code=error.code or "invalid_value",
            headers=error.headers,
        )
    return error


def openai_route(
    renames: Mapping[str, str] = DEFAULT_PARAMS,
) -> Callable[[Callable[[Request], Awaitable[Response]]], Callable[[Request], Awaitable[Response]]]:
    """Decorate a ``/v1`` endpoint so that the errors it raises read as OpenAI's
    (``renames`` maps internal ``param`` paths to the OpenAI request's)."""
    merged = {**DEFAULT_PARAMS, **renames}

    def decorate(
        endpoint: Callable[[Request], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(endpoint)
        async def wrapped(request: Request) -> Response:
            try:
                return await endpoint(request)
            except AltlasError as error:
                translated = openai_error(error, merged)
                if translated is error:
                    raise
                raise translated from None

        return wrapped

    return decorate


def decode_openai(body: bytes, kind: type[Any]) -> Any:
    """Decode an OpenAI request body; a bad one is a 400 naming the field."""
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as error:
        raise openai_error(validation_failed(error)) from None
    except MALFORMED_JSON as error:
        raise malformed_json(error) from None


def sse_error_event(error: AltlasError, request: Request) -> bytes:
    """A server-sent event carrying ``error`` in the one error body (rendered by the
    ``render_error`` hook, as any error response). OpenAI's clients raise it as an
    ``APIError`` when a stream fails after it started."""
    body = bytes(error_response(error, request.scope).body)
    return b"data: " + body + b"\n\n"
