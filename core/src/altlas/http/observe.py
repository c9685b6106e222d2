"""Request metrics: every HTTP request counted by route, method, model and status, and
timed by route, for ``GET /metrics``; while tracing is on, each request also runs in
its server span (:mod:`altlas.tracing`).

Routes are labelled by their path template (``/api/models/{model_id}``), never by the
raw path, so that a scan of random URLs cannot grow the label set; unmatched paths
share one label. The model label is what a route put in ``scope["state"]["model_id"]``.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from altlas import tracing

UNMATCHED = "unmatched"


class MetricsMiddleware:
    """Records ``altlas_requests_total`` and ``altlas_request_duration_seconds``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._paths: dict[Any, str] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if tracing.enabled():
            await self._traced(scope, receive, send)
            return
        await self._counted(scope, receive, send)

    async def _counted(self, scope: Scope, receive: Receive, send: Send) -> str:
        """Run the request, count and time it; returns its status code."""
        started = time.perf_counter()
        status = 500

        async def send_and_watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        finally:
            self._record(scope, status, time.perf_counter() - started)
        return str(status)

    async def _traced(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The request inside its server span (the stages' spans are its children)."""
        method, path = scope["method"], scope["path"]
        with tracing.server_span(method, path, scope.get("headers", [])) as span:
            status = "500"
            try:
                status = await self._counted(scope, receive, send)
            finally:
                route = self._route_of(scope, scope.get("app"))
                span.update_name(f"{method} {route}")
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", int(status))
                state = scope.get("state", {})
                span.set_attribute("altlas.request_id", state.get("request_id", ""))
                if state.get("model_id"):
                    span.set_attribute("altlas.model", state["model_id"])

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        app = scope.get("app")
        runtime = getattr(getattr(app, "state", None), "runtime", None)
        if runtime is None:
            return
        route = self._route_of(scope, app)
        model = scope.get("state", {}).get("model_id", "")
        metrics = runtime.metrics
        metrics.requests.inc(route, scope["method"], model, str(status))
        metrics.request_seconds.observe(seconds, route)

    def _route_of(self, scope: Scope, app: Any) -> str:
        endpoint = scope.get("endpoint")
        if endpoint is None:
            return UNMATCHED
        paths = self._paths
        if paths is None or endpoint not in paths:
            # Plugin routes are added when the app starts: map again on a miss, and
            # remember an endpoint found nowhere (inside a Mount) so as not to map again.
            paths = self._paths = _endpoint_paths(app.router.routes)
            paths.setdefault(endpoint, UNMATCHED)
        return paths[endpoint]


def _endpoint_paths(routes: list[BaseRoute]) -> dict[Any, str]:
    paths: dict[Any, str] = {}
    for route in routes:
        if isinstance(route, Route):
            # /api/models and /api/models/ share an endpoint: label both with the
            # design document's spelling, the one with the slash.
            known = paths.get(route.endpoint)
            if known is None or route.path == known + "/":
                paths[route.endpoint] = route.path
    return paths
