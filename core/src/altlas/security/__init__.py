"""Who may do what: API keys and their scopes, per-key quotas, the browser defences
(allowed hosts, cross-site requests, CORS) and the audit log of admin actions.

One middleware (:class:`~altlas.security.middleware.SecurityMiddleware`) applies them
to every request before it reaches a route; the pipeline asks only
:func:`~altlas.security.principal.require_model` whether the caller may use a model.
"""

from altlas.security.principal import ANONYMOUS, Principal, current_principal, require_model
from altlas.security.scopes import ADMIN, INFERENCE, METRICS, OPEN, required_scope

__all__ = [
    "ADMIN",
    "ANONYMOUS",
    "INFERENCE",
    "METRICS",
    "OPEN",
    "Principal",
    "current_principal",
    "require_model",
    "required_scope",
]
