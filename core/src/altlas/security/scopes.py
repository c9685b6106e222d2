"""Which scope each route needs: one table, by path prefix and method.

The table matches prefixes, not today's route list, so a route added later falls under
the rule of its prefix: an Ollama-compatible ``/api/chat`` needs ``inference`` like every
``/api`` route, ``/api/pull`` and ``/api/delete`` need ``admin``, static files under
``/ui/`` are open. Anything no rule names (a plugin's route outside ``/api``,
``/rerank``) needs ``inference``: a route nobody classified is never open.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Every inference route, ``/v1``, the Ollama-compatible routes, listing models.
INFERENCE = "inference"
#: Load, unload, pin, pull, delete, reload, key management; implies ``inference``.
ADMIN = "admin"
#: ``/metrics`` and ``/api/system/resources``.
METRICS = "metrics"
#: No key needed.
OPEN = "open"

SCOPES = (INFERENCE, ADMIN, METRICS)
#: Scopes a scope grants besides itself.
IMPLIED: dict[str, frozenset[str]] = {ADMIN: frozenset({INFERENCE})}

#: Methods that change state (the ones a browser may send cross-site as a "simple" request).
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_READ = frozenset({"GET", "HEAD"})


@dataclass(frozen=True)
class Rule:
    """Requests whose path is ``prefix`` or lies under it (``prefix/...``), with one of
    ``methods`` (``None``: any), need ``scope``."""

    prefix: str
    scope: str
    methods: frozenset[str] | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.methods is not None and method not in self.methods:
            return False
        if path == self.prefix:
            return True
        # "/" names the root alone, not every path under it.
        return self.prefix != "/" and path.startswith(self.prefix + "/")


#: First match wins; the order puts the narrow rules before the broad ones.
RULES: tuple[Rule, ...] = (
    # Ollama's clients probe "/" ("Ollama is running") before they send a key.
    Rule("/", OPEN, _READ),
    Rule("/healthz", OPEN, _READ),
    Rule("/readyz", OPEN, _READ),
    # The API's description holds no state and no secret: the same for every
    # installation with the same plugins, and a browser must open /docs without a header.
    Rule("/docs", OPEN, _READ),
    Rule("/openapi.json", OPEN, _READ),
    Rule("/ui", OPEN, _READ),
    Rule("/metrics", METRICS),
    Rule("/api/system/resources", METRICS),
    Rule("/api/admin", ADMIN),
    Rule("/api/keys", ADMIN),
    # Ollama's model management routes.
    Rule("/api/pull", ADMIN),
    Rule("/api/push", ADMIN),
    Rule("/api/delete", ADMIN),
    Rule("/api/copy", ADMIN),
    Rule("/api/create", ADMIN),
    # Load, unload, pin, reload: every state change under the Models API.
    Rule("/api/models", ADMIN, STATE_CHANGING),
)


def required_scope(method: str, path: str) -> str:
    """The scope a ``method`` request to ``path`` needs (:data:`OPEN` for none); a path
    no rule names needs :data:`INFERENCE`."""
    for rule in RULES:
        if rule.matches(method, path):
            return rule.scope
    return INFERENCE


def grants(scopes: frozenset[str], needed: str) -> bool:
    """Whether a key holding ``scopes`` may call a route that needs ``needed``."""
    if needed == OPEN:
        return True
    return any(needed == scope or needed in IMPLIED.get(scope, ()) for scope in scopes)
