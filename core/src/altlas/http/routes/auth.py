"""``GET /api/auth/whoami``: the caller's key name and scopes, so a client (the web
console) can offer only what the key may do instead of learning it from refusals."""

from __future__ import annotations

from msgspec import Struct
from starlette.requests import Request
from starlette.routing import Route

from altlas.http.openapi import describe
from altlas.http.responses import MsgspecResponse
from altlas.security.principal import current_principal
from altlas.security.scopes import IMPLIED


class WhoAmI(Struct, kw_only=True):
    """The caller as the service sees it."""

    #: The key's name (``"anonymous"`` while no keys are configured).
    name: str
    #: The scopes the key holds, implied ones included (``admin`` brings ``inference``).
    scopes: list[str]
    #: Whether API keys are on.
    keys: bool


@describe(response=WhoAmI, summary="The caller's key name and scopes", tags=["system"])
async def whoami(request: Request) -> MsgspecResponse:
    """``GET /api/auth/whoami``: the name and scopes of the key the request carries. Like
    every ``/api`` route it needs the ``inference`` scope when keys are on; a request
    without a key answers 401."""
    principal = current_principal()
    held = set(principal.scopes).union(*(IMPLIED.get(scope, ()) for scope in principal.scopes))
    return MsgspecResponse(
        WhoAmI(
            name=principal.name,
            scopes=sorted(held),
            keys=request.app.state.security.keys.enabled,
        )
    )


routes = [Route("/api/auth/whoami", whoami, methods=["GET"])]
