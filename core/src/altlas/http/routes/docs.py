"""The API's own description: ``GET /openapi.json``, and Swagger UI rendering it at ``/docs``.

The document is built once per app, on its first request (plugin routes and tasks are
registered by then), and served from memory afterwards. The page loads Swagger UI from
the core's own files under ``/docs/assets/`` (nothing from elsewhere), so it works offline.
"""

from __future__ import annotations

from pathlib import Path

import msgspec
from msgspec import Struct
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from altlas import __version__
from altlas.http.openapi import describe, openapi_document
from altlas.http.routes import system
from altlas.monitor import ResourceUsage
from altlas.readiness import Readiness
from altlas_sdk.wire import PluginList, TaskList

TITLE = "altlas"
DESCRIPTION = (
    "Local AI models behind one REST API. Every error has one body, `ErrorBody`; "
    "every response carries `X-Request-ID`."
)


class Health(Struct, kw_only=True):
    """``GET /healthz``: the process is up and serving."""

    status: str


# The system routes' module stays free of documentation concerns; describe them here.
describe(response=Health, tags=["system"])(system.healthz)
describe(response=Readiness, responses={503: Readiness}, tags=["system"])(system.readyz)
describe(response_content={"text/plain": {"schema": {"type": "string"}}}, tags=["system"])(
    system.metrics
)
describe(response=ResourceUsage, tags=["system"])(system.resources)
describe(response=PluginList, tags=["system"])(system.list_plugins)
describe(response=TaskList, tags=["system"])(system.list_tasks)


_STATE_KEY = "openapi_json"


@describe(
    response_content={"application/json": {"schema": {"type": "object"}}}, tags=["documentation"]
)
async def openapi_json(request: Request) -> Response:
    """``GET /openapi.json``: the OpenAPI 3.1 document of every route, plugin routes
    included, with every registered task's request and response."""
    app = request.app
    body = getattr(app.state, _STATE_KEY, None)
    if body is None:
        # Thousands of schema nodes: built once, away from the event loop.
        body = await run_in_threadpool(build_openapi_json, app)
        setattr(app.state, _STATE_KEY, body)
    return Response(body, media_type="application/json")


def build_openapi_json(app: Starlette) -> bytes:
    """The encoded OpenAPI document of ``app``: its routes and its runtime's tasks."""
    registry = app.state.runtime.registry
    document = openapi_document(
        app.router.routes,
        title=TITLE,
        version=__version__,
        description=DESCRIPTION,
        tasks={task_id: owned.item for task_id, owned in registry.tasks.items()},
    )
    return msgspec.json.encode(document)


@describe(response_content={"text/html": {"schema": {"type": "string"}}}, tags=["documentation"])
async def docs_page(request: Request) -> HTMLResponse:
    """``GET /docs``: Swagger UI rendering ``/openapi.json``."""
    return HTMLResponse(_PAGE)


#: Swagger UI's distributed files (swagger-ui-dist from npm, with its licence and a
#: versions.json), vendored by scripts/build-console.sh: /docs loads nothing from
#: elsewhere, so it works offline, and the core needs no console to show its reference.
ASSETS_DIR = Path(__file__).parent.parent / "static" / "swagger-ui"

# Relative URLs: from /docs, "docs/assets/x" is /docs/assets/x and "openapi.json" is
# /openapi.json, also behind a proxy that mounts the service under a prefix.
_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>altlas API</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="docs/assets/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({
  url: "openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  tryItOutEnabled: false,
});
</script>
</body>
</html>
"""

routes = [
    Route("/openapi.json", openapi_json, methods=["GET"]),
    Route("/docs", docs_page, methods=["GET"]),
    # Static files: no operation of the API, so the OpenAPI document leaves the mount out.
    Mount("/docs/assets", StaticFiles(directory=ASSETS_DIR), name="docs-assets"),
]
