"""The security state of one app (its keys, quotas and audit log) and the decision who
a request's caller is; the HTTP layer (:mod:`altlas.http.security`) applies it."""

from __future__ import annotations

from dataclasses import dataclass, field

from altlas.config import Settings
from altlas.security.audit import AuditLog
from altlas.security.keys import KeyStore
from altlas.security.principal import ANONYMOUS, Principal
from altlas.security.quotas import Quotas
from altlas.security.scopes import OPEN, grants
from altlas_sdk.errors import AuthenticationFailed, PermissionDenied

#: A caller without a key on an open route, while keys are on: no scope, no model.
UNAUTHENTICATED = Principal(name="unauthenticated", scopes=frozenset(), models=())


@dataclass
class Security:
    """The security state of one app: its keys, quotas and audit log."""

    settings: Settings
    keys: KeyStore = field(init=False)
    quotas: Quotas = field(init=False)
    audit: AuditLog = field(init=False)

    def __post_init__(self) -> None:
        self.keys = KeyStore(self.settings)
        self.quotas = Quotas()
        self.audit = AuditLog(self.settings.audit_log_path())

    def principal(self, key: str | None, needed: str) -> Principal:
        """Who sends ``key`` to a route that needs ``needed``; raises 401 for a missing
        or unknown key where one is needed."""
        if not self.keys.enabled:
            return ANONYMOUS
        if key is None:
            if needed == OPEN:
                return UNAUTHENTICATED
            raise AuthenticationFailed(
                "this route needs an API key: send 'Authorization: Bearer <key>' or "
                "'X-API-Key: <key>'",
                code="missing_api_key",
            )
        principal = self.keys.authenticate(key)
        if principal is None:
            raise AuthenticationFailed("the API key is not valid", code="invalid_api_key")
        return principal

    @staticmethod
    def authorize(principal: Principal, needed: str) -> None:
        """Raise 403 unless ``principal`` holds the scope ``needed`` (or one implying it)."""
        if not grants(principal.scopes, needed):
            raise PermissionDenied(
                f"API key '{principal.name}' lacks the '{needed}' scope this route needs",
                code="missing_scope",
            )


def offered_key(headers: dict[str, str]) -> str | None:
    """The API key of a request: ``Authorization: Bearer <key>`` or ``X-API-Key``."""
    authorization = headers.get("authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return headers.get("x-api-key", "").strip() or None
