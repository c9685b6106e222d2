"""``altlas serve --workers N``: several server processes on one port.

uvicorn's process supervisor binds the socket once, starts each worker as a fresh
(spawned) interpreter with a pickled copy of its config, restarts a worker that dies
and passes SIGINT/SIGTERM on. It wants the application as an import string, because a
config holding an app cannot be pickled: :class:`WorkerConfig` carries the settings
instead and builds the app, with its own runtime, in each worker.

Every worker holds its own runtime: its own loaded models within its own
``RAM_MEMORY_LIMIT``, its own queues and response cache (unless a shared one such as
``disk`` is configured). ``/metrics`` merges the workers' values through the
Prometheus client's multiprocess mode, in ``PROMETHEUS_MULTIPROC_DIR`` (a temporary
folder when the operator sets none).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import uvicorn
from uvicorn.supervisors import Multiprocess

from altlas.config import Settings
from altlas.http.server import _raise_open_files_limit, server_options

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class WorkerConfig(uvicorn.Config):
    """A uvicorn config that builds the service in the process that loads it."""

    def __init__(self, settings: Settings, **kwargs: object) -> None:
        # The import string only satisfies uvicorn's checks: load() replaces it.
        super().__init__("altlas.main:app", **kwargs)  # type: ignore[arg-type]
        self.settings = settings

    def load(self) -> None:
        """Build this worker's runtime and app (in the worker, after the fork)."""
        from altlas.http.app import create_app
        from altlas.runtime import Runtime

        options = server_options(create_app(Runtime(self.settings)), self.settings)
        self.app = options["app"]
        self.http = options["http"]
        super().load()


def serve_workers(
    settings: Settings, *, host: str, port: int, workers: int, graceful_timeout: float
) -> None:
    """Serve on ``host``:``port`` with ``workers`` processes until SIGINT or SIGTERM;
    each worker shuts down as :func:`altlas.http.server.serve` does."""
    _raise_open_files_limit(settings.max_connections)
    with metrics_folder():
        config = WorkerConfig(
            settings,
            host=host,
            port=port,
            workers=workers,
            log_config=None,
            log_level=settings.log_level.lower(),
            timeout_keep_alive=settings.http_keep_alive_timeout,
            timeout_graceful_shutdown=graceful_timeout,
        )
        Multiprocess(config, sockets=[config.bind_socket()]).run()


@contextlib.contextmanager
def metrics_folder() -> Iterator[Path]:
    """The multiprocess metrics folder for the workers about to start, set in the
    environment they inherit: the operator's ``PROMETHEUS_MULTIPROC_DIR``, emptied of
    a previous run's values (they would add to this run's counts), or a temporary
    folder removed at the end."""
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        folder = Path(given)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):
            stale.unlink()
        yield folder
        return
    folder = Path(tempfile.mkdtemp(prefix="altlas-metrics-"))
    os.environ[MULTIPROC_ENV] = str(folder)
    try:
        yield folder
    finally:
        del os.environ[MULTIPROC_ENV]
        shutil.rmtree(folder, ignore_errors=True)
