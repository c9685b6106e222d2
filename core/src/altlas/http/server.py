"""Running the app under uvicorn: the server's own settings (timeouts, connection limits,
graceful shutdown) live here, apart from the command line that asks for them."""

from __future__ import annotations

from starlette.applications import Starlette

from altlas.config import Settings


def serve(
    app: Starlette, *, host: str, port: int, settings: Settings, graceful_timeout: float
) -> None:
    """Serve ``app`` on ``host``:``port`` until SIGINT or SIGTERM.

    On a signal uvicorn stops accepting, lets requests in flight finish for up to
    ``graceful_timeout`` seconds and then cancels them (their backends see the
    cancellation token); the app's shutdown then unloads every model.
    """
    import uvicorn

    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        log_config=None,
        timeout_graceful_shutdown=graceful_timeout,
    )
