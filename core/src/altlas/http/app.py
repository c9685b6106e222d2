"""The ASGI application."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import Receive, Scope, Send

from altlas.http.errors import RequestContextMiddleware, altlas_error_handler, http_error_handler
from altlas.http.limits import BodySizeLimitMiddleware
from altlas.http.observe import MetricsMiddleware
from altlas.http.routes import (
    admin,
    auth,
    batch,
    docs,
    inference,
    models,
    ollama,
    ollama_models,
    openai,
    openai_audio,
    orchestrated,
    pulls,
    rerank,
    system,
)
from altlas.http.security import LazyCORSMiddleware, SecurityMiddleware
from altlas.reload import Reloader, unwatch_sighup, watch_sighup
from altlas.restore import record, restore
from altlas.runtime import Runtime, get_runtime
from altlas.security.guard import Security
from altlas_sdk import PluginMount, PluginRoute
from altlas_sdk.errors import AltlasError


def create_app(runtime: Runtime | None = None) -> Starlette:
    """The service as an ASGI app. Without ``runtime`` it uses the process's default
    runtime, created from the environment when the app starts."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        active = runtime or get_runtime()
        app.state.runtime = active
        # Keys, quotas and the audit log; a bad AUTH_KEYS_FILE stops the start here.
        app.state.security = Security(active.settings)
        for route in _plugin_routes(active):
            app.router.routes.append(route)
        app.state.reloader = Reloader(active)
        await active.start()
        watch_sighup(app.state.reloader, app.state.security.audit)
        # RESTORE_MODELS: the models loaded at the last shutdown, in the background.
        restoring = asyncio.ensure_future(restore(active))
        try:
            yield
        finally:
            unwatch_sighup()
            restoring.cancel()
            record(active)  # what is loaded now, before the shutdown unloads it
            await active.stop()

    app = Starlette(
        routes=[
            # The router tries routes in order: the inference routes, the hot path, first.
            *inference.routes,
            *system.routes,
            *pulls.routes,
            *models.routes,
            *admin.routes,
            *auth.routes,
            *batch.routes,
            *orchestrated.routes,
            *docs.routes,
            *openai.routes,
            *openai_audio.routes,
            *ollama.routes,
            *ollama_models.routes,
            *rerank.routes,
        ],
        middleware=[
            Middleware(MetricsMiddleware),
            Middleware(RequestContextMiddleware),
            # CORS outside the security checks: a browser's preflight carries no key.
            Middleware(LazyCORSMiddleware),
            Middleware(SecurityMiddleware),
            Middleware(BodySizeLimitMiddleware),
        ],
        exception_handlers={AltlasError: altlas_error_handler, HTTPException: http_error_handler},
        lifespan=lifespan,
    )
    return app


def _plugin_routes(runtime: Runtime) -> list[BaseRoute]:
    """The plugins' registered endpoints as Starlette routes."""
    return [_starlette_route(owned.item) for owned in runtime.registry.routes.values()]


def _starlette_route(record: PluginRoute | PluginMount) -> BaseRoute:
    if isinstance(record, PluginMount):
        return Mount(record.path, app=record.app, name=record.name)
    return Route(
        record.path, _ASGIEndpoint(record.app), methods=list(record.methods), name=record.name
    )


class _ASGIEndpoint:
    """Hands a request to a plugin's ASGI app as it is: Starlette would take a plain
    function for a request handler and call it with a ``Request``."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
