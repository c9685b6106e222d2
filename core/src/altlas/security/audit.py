"""The audit log: one JSON line per admin action (load, unload, pin, pull, delete,
key management), refused ones included, with who did it, what, on which model, when
and the outcome's status.

Lines go to the ``altlas.audit`` logger and, unless ``AUDIT_LOG`` is ``off``, appended
to the file ``AUDIT_LOG`` (default ``CACHE_DIR/audit.log``). "Who" is the key's name,
or ``anonymous@<client address>`` when no keys are configured; never the key.
"""

from __future__ import annotations

import datetime
import json
import logging
import threading
from pathlib import Path
from typing import Any

logger = logging.getLogger("altlas.audit")

#: ``scope["state"]`` key where a route names its action more precisely than its path
#: does (``"pin"`` for a load that pins).
ACTION_STATE = "audit_action"


class AuditLog:
    """Appends audit records to ``path`` (``None``: the logger only)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()

    def record(
        self,
        *,
        who: str,
        action: str,
        status: int,
        model: str | None = None,
        request_id: str | None = None,
        outcome: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Write one record; returns it. ``status`` is the HTTP status of the answer
        (the exit status for a command); ``outcome`` defaults to what the status says.
        A file that cannot be written is logged, and never fails the request."""
        entry: dict[str, Any] = {
            "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds"),
            "who": who,
            "action": action,
            "model": model,
            "status": status,
            "outcome": outcome
            or ("ok" if status < 400 else "refused" if status < 500 else "failed"),
            "request_id": request_id,
            **(detail or {}),
        }
        line = json.dumps(entry, separators=(",", ":"))
        logger.info("%s", line)
        if self.path is not None:
            try:
                # Admin actions are rare: a short append in the caller's thread is fine.
                with self._lock:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    with self.path.open("a", encoding="utf-8") as handle:
                        handle.write(line + "\n")
            except OSError as error:
                logger.error("cannot append to the audit log %s: %s", self.path, error)
        return entry
