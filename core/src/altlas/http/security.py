"""The security middleware: host check, cross-site rule, API key, scope, quotas and the
audit of admin actions, in that order, before a request reaches a route; and CORS,
through Starlette's middleware, for the origins in ``CORS_ORIGINS``."""

from __future__ import annotations

import logging
import re

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from altlas.http.errors import error_response, request_id_of
from altlas.security.audit import ACTION_STATE
from altlas.security.browser import check_cross_site, check_host
from altlas.security.guard import UNAUTHENTICATED, Security, offered_key
from altlas.security.principal import ANONYMOUS, Principal, reset_principal, set_principal
from altlas.security.scopes import ADMIN, required_scope
from altlas_sdk.errors import AltlasError, BadRequest

logger = logging.getLogger(__name__)

# A model's own routes (/api/models/{id}/load...); not /api/models/pull, whose body names it.
_MODEL_PATH = re.compile(r"^/api/models/([^/]+)/")


class SecurityMiddleware:
    """Refuses, in the one error shape, what the caller may not do; otherwise puts the
    caller's :class:`Principal` in ``scope["state"]["principal"]`` (and the context the
    pipeline reads) for the request, and counts it against the key's quotas."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        security: Security = scope["app"].state.security
        settings = security.settings
        headers = {
            name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]
        }
        method, path = scope["method"], scope["path"]
        needed = required_scope(method, path)
        key = offered_key(headers)
        host = headers.get("host", "")
        own = (f"http://{host}".lower(), f"https://{host}".lower())
        principal: Principal | None = None
        try:
            check_host(host, settings.allowed_hosts)
            check_cross_site(method, headers, own, settings.cors_origins, has_key=key is not None)
            principal = security.principal(key, needed)
            security.authorize(principal, needed)
            security.quotas.acquire(principal)
        except AltlasError as error:
            self._refused(scope, security, needed, error, principal)
            await error_response(error, scope)(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        token = set_principal(principal)
        status = 500

        async def send_and_watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        finally:
            reset_principal(token)
            security.quotas.release(principal)
            _count(scope, security, principal.name, status)
            if needed == ADMIN:
                _audit(scope, security, principal.name, status)

    @staticmethod
    def _refused(
        scope: Scope,
        security: Security,
        needed: str,
        error: AltlasError,
        principal: Principal | None,
    ) -> None:
        client = _client(scope)
        if principal is None or principal is UNAUTHENTICATED:
            who = f"{'unauthenticated' if security.keys.enabled else 'anonymous'}@{client}"
        else:
            who = principal.name
        # The log names the key, never the key itself.
        logger.warning(
            "refused %s %s from %s (%s): %s %s",
            scope["method"],
            scope["path"],
            client,
            who,
            error.status,
            error.code or error.type,
        )
        _count(scope, security, principal.name if principal else UNAUTHENTICATED.name, error.status)
        if needed == ADMIN:
            _audit(scope, security, who, error.status)


def _count(scope: Scope, security: Security, key_name: str, status: int) -> None:
    """Count the request in ``altlas_api_key_requests_total`` while keys are on."""
    if security.keys.enabled:
        scope["app"].state.runtime.metrics.api_key_requests.inc(key_name, str(status))


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


def _audit(scope: Scope, security: Security, who: str, status: int) -> None:
    if who == ANONYMOUS.name:
        who = f"anonymous@{_client(scope)}"
    path = scope["path"]
    match = _MODEL_PATH.match(path)
    model = scope.get("path_params", {}).get("model_id") or (match.group(1) if match else None)
    action = scope.get("state", {}).get(ACTION_STATE)
    if action is None:
        action = path.rsplit("/", 1)[-1] if match and scope["method"] == "POST" else None
    security.audit.record(
        who=who,
        action=action or f"{scope['method']} {path}",
        status=status,
        model=model,
        request_id=request_id_of(scope) or None,
    )


class _RefusedPreflight:
    """The one error body for a CORS preflight Starlette refuses (it answers plain text)."""

    def __init__(self, error: BadRequest, headers: dict[str, str]) -> None:
        self.error, self.headers = error, headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(self.error, scope)
        response.headers.update(self.headers)
        await response(scope, receive, send)


class _CORSMiddleware(CORSMiddleware):
    """Starlette's CORS middleware, with its refused preflights in the one error shape."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        refusal = bytes(response.body).decode()
        error = BadRequest(
            f"{refusal}: CORS_ORIGINS lists the origins allowed", code="cors_preflight_refused"
        )
        kept = {k: v for k, v in response.headers.items() if k.lower().startswith("access-control")}
        # Starlette awaits whatever this returns as an ASGI app.
        return _RefusedPreflight(error, kept)  # type: ignore[return-value]


class LazyCORSMiddleware:
    """Starlette's :class:`CORSMiddleware` for the runtime's ``CORS_ORIGINS``, built at
    the first request (the runtime, and so its settings, is known only once the app
    starts); no CORS headers at all while ``CORS_ORIGINS`` is empty."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._cors: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._cors is None:
            origins = scope["app"].state.runtime.settings.cors_origins
            self._cors = (
                _CORSMiddleware(
                    self.app,
                    allow_origins=list(origins),
                    allow_methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
                    allow_headers=["Authorization", "X-API-Key", "Content-Type", "X-Request-ID"],
                    expose_headers=["Retry-After", "X-Request-ID", "WWW-Authenticate"],
                    max_age=600,
                )
                if origins
                else self.app
            )
        await self._cors(scope, receive, send)
