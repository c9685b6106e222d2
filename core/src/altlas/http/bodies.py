"""Request body decoding: content type (415), JSON syntax (400), validation (422).

Every way a JSON body can be malformed is a 400 ``invalid_json``: a syntax error,
nesting deeper than the interpreter's recursion limit (msgspec raises
``RecursionError`` for it) and invalid UTF-8 inside a string (msgspec decodes strings
with CPython's UTF-8 codec, which raises ``UnicodeDecodeError``).
"""

from __future__ import annotations

from typing import TypeVar

import msgspec
from starlette.requests import Request

from altlas.inference.decode import validation_failed
from altlas_sdk.errors import BadRequest, UnsupportedMediaType

T = TypeVar("T")

#: What decoding a JSON body raises when the body is malformed (not merely invalid).
MALFORMED_JSON: tuple[type[Exception], ...] = (
    msgspec.DecodeError,
    RecursionError,
    UnicodeDecodeError,
)

_decoders: dict[type, msgspec.json.Decoder] = {}


def _decoder(kind: type[T]) -> msgspec.json.Decoder[T]:
    decoder = _decoders.get(kind)
    if decoder is None:
        decoder = _decoders[kind] = msgspec.json.Decoder(kind)
    return decoder


def malformed_json(error: Exception) -> BadRequest:
    """The 400 for a body that is not well-formed JSON (``error`` from
    :data:`MALFORMED_JSON`)."""
    if isinstance(error, RecursionError):
        reason = "it is nested too deeply"
    elif isinstance(error, UnicodeDecodeError):
        reason = f"a string is not valid UTF-8 (byte {error.start})"
    else:
        reason = str(error)
    return BadRequest(f"request body is not valid JSON: {reason}", code="invalid_json")


def decode_bytes(body: bytes, kind: type[T]) -> T:
    """Decode ``body`` as ``kind``: 400 when malformed, 422 when invalid."""
    try:
        return _decoder(kind).decode(body)
    except msgspec.ValidationError as error:
        raise validation_failed(error) from None
    except MALFORMED_JSON as error:
        raise malformed_json(error) from None


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
    return decode_bytes(body, kind)
