"""The default error renderer: the one JSON error body."""

from __future__ import annotations

from typing import Any

from altlas_sdk import hookimpl
from altlas_sdk.errors import AltlasError


@hookimpl(trylast=True)
def render_error(error: Exception, request_id: str) -> dict[str, Any] | None:
    if not isinstance(error, AltlasError):
        return None
    return {
        "error": {
            "type": error.type,
            "message": error.message,
            "param": error.param,
            "code": error.code,
            "request_id": request_id,
        }
    }
