"""The caller of a request: which key (by name), its scopes and the models it may use.

The security middleware puts the principal in the request's ASGI state
(``scope["state"]["principal"]``) and in a context variable for the request's task,
so that the pipeline (the preparer, the orchestrator's planner) can refuse a model the
key may not use without every call site passing the principal along.
"""

from __future__ import annotations

import contextvars
import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass

from altlas.security.scopes import SCOPES
from altlas_sdk.errors import PermissionDenied


@dataclass(frozen=True)
class Principal:
    """Who is calling. ``name`` is the key's name (``"anonymous"`` with no keys
    configured); the key itself is never kept here. ``models`` holds glob patterns of
    the model ids the key may use (``None``: any)."""

    name: str
    scopes: frozenset[str]
    models: tuple[str, ...] | None = None
    rate_limit: str | None = None
    max_concurrency: int | None = None

    def may_use(self, model_id: str) -> bool:
        """Whether the key may use ``model_id`` (its ``models`` globs match it)."""
        if self.models is None:
            return True
        return any(fnmatch.fnmatchcase(model_id, pattern) for pattern in self.models)


#: The caller when no keys are configured: every scope, every model.
ANONYMOUS = Principal(name="anonymous", scopes=frozenset(SCOPES))

_current: contextvars.ContextVar[Principal] = contextvars.ContextVar(
    "altlas_principal", default=ANONYMOUS
)


def current_principal() -> Principal:
    """The principal of the request this task serves (:data:`ANONYMOUS` outside one,
    e.g. in-process calls through the facades)."""
    return _current.get()


def set_principal(principal: Principal) -> contextvars.Token[Principal]:
    """Make ``principal`` the current one; reset with the token when the request ends."""
    return _current.set(principal)


def reset_principal(token: contextvars.Token[Principal]) -> None:
    """Undo :func:`set_principal`."""
    _current.reset(token)


def require_model(model_id: str, *, param: str | None = "$.model_id") -> None:
    """Raise ``403 permission_error`` unless the current principal may use ``model_id``."""
    principal = current_principal()
    if not principal.may_use(model_id):
        raise PermissionDenied(
            f"API key '{principal.name}' may not use model '{model_id}'",
            param=param,
            code="model_not_allowed",
        )


def allowed(model_ids: Iterable[str]) -> list[str]:
    """The ids in ``model_ids`` the current principal may use, in their order."""
    principal = current_principal()
    return [model_id for model_id in model_ids if principal.may_use(model_id)]
