"""HTTP endpoints a plugin adds, as records the core's HTTP layer turns into routes.

A plugin registers them through the ``register_routes`` hook. The records hold plain
ASGI applications, so neither the SDK nor the core's services depend on a web
framework; a plugin may build its endpoint with any ASGI toolkit (Starlette's
``Response`` objects are ASGI applications) or write one by hand. Every path starts
with ``/api/plugins/<plugin-name>/``: the core owns every other path, except the web
console's mount point, ``/ui``, which one plugin may claim with a :class:`PluginMount`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

#: An ASGI connection scope (``type``, ``path``, ``method``, ``headers``...).
Scope = MutableMapping[str, Any]
#: Awaits the next ASGI message from the client.
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
#: Sends one ASGI message to the client.
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
#: An ASGI application: ``await app(scope, receive, send)``.
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Every plugin path starts with this, then the plugin's name and ``/``.
PLUGIN_ROUTE_PREFIX = "/api/plugins/"
#: The web console's mount point: the one path outside a plugin's prefix that a plugin
#: may register, as a :class:`PluginMount` (static files need no key: it is open in the
#: scope table, and the console's own API calls carry the key).
CONSOLE_PATH = "/ui"


@dataclass(frozen=True)
class PluginRoute:
    """One endpoint: ``app`` answers requests for exactly ``path`` with one of
    ``methods``; other methods get ``405``.

    ``path`` may hold Starlette-style parameters (``/api/plugins/mine/items/{id}``),
    which the app finds in ``scope["path_params"]``.
    """

    path: str
    app: ASGIApp
    methods: tuple[str, ...] = ("GET",)
    #: The route's name in the service's router (Starlette's ``url_path_for``).
    name: str | None = None

    def __post_init__(self) -> None:
        # A list or a lower-case name would register a second, different route key.
        object.__setattr__(self, "methods", tuple(sorted({m.upper() for m in self.methods})))

    @property
    def key(self) -> str:
        """What two plugins must not both register: the methods and the path."""
        return f"{','.join(self.methods)} {self.path}"


@dataclass(frozen=True)
class PluginMount:
    """A sub-application serving every path under ``path`` (``/api/plugins/mine/ui``
    serves ``/api/plugins/mine/ui/...``) with every method. As ASGI says, the mount point
    is in ``scope["root_path"]``."""

    path: str
    app: ASGIApp
    #: The mount's name in the service's router (Starlette's ``url_path_for``).
    name: str | None = None

    @property
    def key(self) -> str:
        """What two plugins must not both register: the mount point."""
        return f"MOUNT {self.path}"
