"""JSON responses encoded by msgspec (Structs included)."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.responses import Response

_encoder = msgspec.json.Encoder()


class MsgspecResponse(Response):
    """``application/json`` from any msgspec-encodable value."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return _encoder.encode(content)
