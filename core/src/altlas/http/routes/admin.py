"""The admin API: ``POST /api/admin/reload`` re-reads the config file."""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from altlas.http.openapi import describe
from altlas.http.responses import MsgspecResponse
from altlas.reload import Reloader, ReloadReport
from altlas.security.audit import ACTION_STATE


@describe(
    response=ReloadReport,
    errors=[409, 422],
    summary="Re-read the config file",
    tags=["admin"],
)
async def reload_config(request: Request) -> MsgspecResponse:
    """``POST /api/admin/reload``: applies the config file's models and task defaults
    (as ``SIGHUP`` does); an invalid file is refused with the reason (422
    ``invalid_config``) and the running configuration stays."""
    request.scope["state"][ACTION_STATE] = "reload"
    reloader: Reloader = request.app.state.reloader
    return MsgspecResponse(await reloader.reload())


routes = [Route("/api/admin/reload", reload_config, methods=["POST"])]
