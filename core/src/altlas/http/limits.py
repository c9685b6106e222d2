"""The request body size limit (``MAX_REQUEST_BODY_MB``): a 413 before the body is read.

A declared ``Content-Length`` over the limit is refused at once; a body sent without
one (chunked) is counted as it arrives and refused when it goes over.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from altlas.http.errors import error_response
from altlas_sdk.errors import PayloadTooLarge

MEGABYTE = 1024 * 1024


def _too_large(limit_mb: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the request body is larger than {limit_mb} MB (MAX_REQUEST_BODY_MB)")


class BodySizeLimitMiddleware:
    """Answers ``413 payload_too_large`` for a body over the runtime's limit."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit_mb: int = scope["app"].state.runtime.settings.max_request_body_mb
        limit = limit_mb * MEGABYTE
        for name, value in scope["headers"]:
            if name == b"content-length":
                if value.isdigit() and int(value) > limit:
                    await error_response(_too_large(limit_mb), scope)(scope, receive, send)
                    return
                # The server delivers exactly the declared length: nothing to count.
                await self.app(scope, receive, send)
                return
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Raised into whoever reads the body: the app's handler renders it.
                    raise _too_large(limit_mb)
            return message

        await self.app(scope, counted_receive, send)
