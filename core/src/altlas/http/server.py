"""Running the app under uvicorn: the server's own settings (timeouts, connection limits,
graceful shutdown) live here, apart from the command line that asks for them.

uvicorn closes an idle keep-alive connection (``HTTP_KEEP_ALIVE_TIMEOUT``) but waits
for a request's headers forever, and its ``limit_concurrency`` answers a plain-text 503
only once a request's headers have arrived. A client that opens connections and never
finishes their headers would hold a file descriptor each until the process runs out.
So the HTTP protocol is uvicorn's own (h11), with two additions:

- a connection still waiting for its request's headers ``HTTP_HEADER_TIMEOUT`` seconds
  after it opened (or after its previous response) is closed;
- a connection beyond ``MAX_CONNECTIONS`` open at once is answered at once with a 503
  in the one JSON error body, and closed.

A request still running when the shutdown grace period (``--graceful-timeout``) ends is
cancelled by uvicorn; :class:`ShutdownAnswer` answers it with a 503 in the one error
body (code ``shutting_down``) where uvicorn would send a plain-text 500.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from altlas.config import Settings
from altlas.http.errors import error_body, error_response
from altlas_sdk.errors import Overloaded

logger = logging.getLogger(__name__)

# Seconds a refused connection may stay open for its client to read the 503.
_REFUSED_LINGER_S = 2.0


def serve(
    app: Starlette, *, host: str, port: int, settings: Settings, graceful_timeout: float
) -> None:
    """Serve ``app`` on ``host``:``port`` until SIGINT or SIGTERM.

    On a signal uvicorn stops accepting, lets requests in flight finish for up to
    ``graceful_timeout`` seconds and then cancels them (their backends see the
    cancellation token; their clients get a 503 ``shutting_down``); the app's shutdown
    then unloads every model.
    """
    import uvicorn

    _raise_open_files_limit(settings.max_connections)
    uvicorn.run(
        **server_options(app, settings),
        host=host,
        port=port,
        log_config=None,
        timeout_graceful_shutdown=graceful_timeout,
    )


# File descriptors kept beside the connections: model files, logs, the cache, pipes.
_SPARE_FILES = 256


def _raise_open_files_limit(max_connections: int) -> None:
    """Raise the soft limit on open files to the hard one (as Go's runtime does at
    start): ``MAX_CONNECTIONS`` sockets must fit beside the files models keep open."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max_connections + _SPARE_FILES
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(hard, wanted)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft != resource.RLIM_INFINITY and soft < wanted:
        logger.warning(
            "open files are limited to %d: fewer than MAX_CONNECTIONS (%d) + %d; "
            "lower MAX_CONNECTIONS or raise the limit (ulimit -n)",
            soft,
            max_connections,
            _SPARE_FILES,
        )


def server_options(app: Starlette, settings: Settings) -> dict[str, Any]:
    """uvicorn's keyword arguments for ``app`` under ``settings``, bar the address and
    the shutdown grace (for :func:`uvicorn.run` or :class:`uvicorn.Config`)."""
    return {
        "app": ShutdownAnswer(app),
        "http": guarded_protocol(app, settings),
        "log_level": settings.log_level.lower(),
        "timeout_keep_alive": settings.http_keep_alive_timeout,
    }


class ShutdownAnswer:
    """Answers a request that the end of the shutdown grace period cancelled with a 503
    in the one error body, when its response has not started yet."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        except asyncio.CancelledError:
            # uvicorn cancels requests only when the shutdown grace period is over.
            if started:
                raise
            # The cancellation is answered here: the task goes on to send the answer.
            uncancel = getattr(asyncio.current_task(), "uncancel", None)  # Python 3.11+
            if uncancel is not None:
                uncancel()
            error = Overloaded("the server is shutting down; retry the request", retry_after=5)
            error.code = "shutting_down"
            await error_response(error, scope)(scope, receive, send)


def guarded_protocol(app: Starlette, settings: Settings) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol with the header timeout and the connection cap of
    ``settings``."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class GuardedH11Protocol(_Guard, H11Protocol):
        header_timeout = settings.http_header_timeout
        max_connections = settings.max_connections
        busy_body = _BusyBody(app, settings.max_connections)

    return GuardedH11Protocol


class _BusyBody:
    """The bytes of the 503 refusing a connection over the cap, rendered once (after
    the app started, so the ``render_error`` hook of its plugins applies)."""

    def __init__(self, app: Starlette, limit: int) -> None:
        self.app = app
        self.limit = limit
        self._response: bytes | None = None

    def response(self) -> bytes:
        if self._response is None:
            import msgspec

            error = Overloaded(
                f"the server has {self.limit} connections open (MAX_CONNECTIONS); retry shortly",
                retry_after=1,
            )
            error.code = "too_many_connections"
            body = msgspec.json.encode(error_body(error, {"app": self.app}))
            self._response = (
                b"HTTP/1.1 503 Service Unavailable\r\n"
                b"content-type: application/json\r\n"
                b"retry-after: 1\r\n"
                b"connection: close\r\n"
                b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
            )
        return self._response


class _Guard:
    """Mixed into uvicorn's HTTP protocol: closes connections whose request headers do
    not arrive in time, and refuses connections over the cap.

    uvicorn's protocols create ``self.cycle`` when a request's headers are complete;
    a timer armed while waiting for headers remembers the cycle it saw, and finding
    the same one when it fires means no new request began.
    """

    header_timeout: float
    max_connections: int
    busy_body: _BusyBody
    # Provided by uvicorn's protocol.
    connections: set[Any]
    cycle: Any
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport

    _header_timer: asyncio.TimerHandle | None = None
    _refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)  # type: ignore[misc]
        if self.max_connections and len(self.connections) > self.max_connections:
            self._refuse(transport)
            return
        self._wait_for_headers()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # the request of a refused connection is read and dropped
        super().data_received(data)  # type: ignore[misc]

    def _refuse(self, transport: asyncio.Transport) -> None:
        """Answer the 503 and end the connection. Closing at once, with the client's
        request unread, would reset the connection (and lose the answer on the way):
        the write side is shut instead, the client closes on reading the answer, and
        a client that does not is closed shortly after."""
        logger.warning("refused a connection: %d open (MAX_CONNECTIONS)", self.max_connections)
        self._refused = True
        transport.write(self.busy_body.response())
        if transport.can_write_eof():
            transport.write_eof()
        self.loop.call_later(_REFUSED_LINGER_S, transport.close)

    def on_response_complete(self) -> None:
        # Armed first: completing a response may start a pipelined request at once,
        # and that new cycle must disarm the timer.
        self._wait_for_headers()
        super().on_response_complete()  # type: ignore[misc]

    def connection_lost(self, exc: Exception | None) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        super().connection_lost(exc)  # type: ignore[misc]

    def _wait_for_headers(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
        if self.header_timeout <= 0:
            return
        self._header_timer = self.loop.call_later(
            self.header_timeout, self._headers_overdue, self.cycle
        )

    def _headers_overdue(self, cycle_then: Any) -> None:
        self._header_timer = None
        if self.cycle is cycle_then and not self.transport.is_closing():
            logger.info("closed a connection: no request headers in %gs", self.header_timeout)
            self.transport.close()
