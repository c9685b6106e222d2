"""Request body decoding: content type (415), JSON syntax (400), validation (422)."""

from __future__ import annotations

from typing import TypeVar

import msgspec
from starlette.requests import Request

from altlas.inference.decode import validation_failed
from altlas_sdk.errors import BadRequest, UnsupportedMediaType

T = TypeVar("T")

_decoders: dict[type, msgspec.json.Decoder] = {}


def _decoder(kind: type[T]) -> msgspec.json.Decoder[T]:
    decoder = _decoders.get(kind)
    if decoder is None:
        decoder = _decoders[kind] = msgspec.json.Decoder(kind)
    return decoder


def require_json(request: Request) -> None:
    """415 unless the body is declared as JSON."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise UnsupportedMediaType(
            f"expected Content-Type: application/json, got '{media_type or 'none'}'",
            param="Content-Type",
        )


async def decode_json(request: Request, kind: type[T], *, optional: bool = False) -> T | None:
    """Decode the body as ``kind``. With ``optional``, an empty body gives ``None``."""
    body = await request.body()
    if optional and not body.strip():
        return None
    require_json(request)
    try:
        return _decoder(kind).decode(body)
    except msgspec.ValidationError as error:
        raise validation_failed(error) from None
    except msgspec.DecodeError as error:
        raise BadRequest(f"request body is not valid JSON: {error}", code="invalid_json") from None
