"""Errors over HTTP: request ids, the one JSON error body, and the catch-all 500."""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from altlas import logs
from altlas.default_plugins.errors import render_error as default_render
from altlas.http.responses import MsgspecResponse
from altlas_sdk.errors import (
    AltlasError,
    BadRequest,
    InternalError,
    MethodNotAllowed,
    RouteNotFound,
)

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "x-request-id"
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def request_id_of(scope: Scope) -> str:
    """The request's id (set by :class:`RequestContextMiddleware`)."""
    return scope.get("state", {}).get("request_id", "")


def error_body(error: AltlasError, scope: Scope) -> dict[str, Any]:
    """The one error body of ``error``, rendered through the ``render_error`` hook."""
    request_id = request_id_of(scope)
    app = scope.get("app")
    runtime = getattr(getattr(app, "state", None), "runtime", None) if app else None
    body: dict[str, Any] | None = None
    if runtime is not None:
        body = runtime.plugins.pm.hook.render_error(error=error, request_id=request_id)
    if body is None:
        body = default_render(error, request_id)
    assert body is not None
    return body


def error_response(error: AltlasError, scope: Scope) -> Response:
    """Render ``error`` through the ``render_error`` hook as the one error body."""
    return MsgspecResponse(
        error_body(error, scope), status_code=error.status, headers=error.headers
    )


async def altlas_error_handler(request: Request, error: Exception) -> Response:
    """Starlette exception handler for :class:`AltlasError`."""
    assert isinstance(error, AltlasError)
    return error_response(error, request.scope)


async def http_error_handler(request: Request, error: Exception) -> Response:
    """Map Starlette's own HTTP errors (no route, wrong method) onto the hierarchy."""
    assert isinstance(error, HTTPException)
    mapped: AltlasError
    if error.status_code == 404:
        mapped = RouteNotFound(request.url.path)
    elif error.status_code == 405:
        mapped = MethodNotAllowed(f"{request.method} is not allowed on '{request.url.path}'")
        mapped.headers.update(error.headers or {})
    else:
        mapped = BadRequest(str(error.detail))
    return error_response(mapped, request.scope)


class RequestContextMiddleware:
    """Gives every request an id (the client's ``X-Request-ID`` when sane), echoes it in
    the response, and turns an unexpected exception into a 500 carrying only an error
    id, with the traceback in the log."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = (
            dict(scope.get("headers", [])).get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")
        )
        request_id = offered if _CLIENT_ID.match(offered) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        # Every record logged while the request runs carries its id (altlas.logs).
        token = logs.request_id.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        except Exception as error:
            internal = InternalError.logged(logger, "request %s failed", request_id, exc_info=error)
            if started:
                raise
            response = error_response(internal, scope)
            await response(scope, receive, send_with_id)
        finally:
            logs.request_id.reset(token)
