"""``altlas serve --workers N``: several server processes on one port.

uvicorn's process supervisor binds the socket once, starts each worker as a fresh
(spawned) interpreter with a pickled copy of its config, restarts a worker that dies
and passes SIGINT/SIGTERM on. It wants the application as an import string, because a
config holding an app cannot be pickled: :class:`WorkerConfig` carries a way to read
the settings instead and builds the app, with its own runtime, in each worker.

Every worker holds its own runtime: its own loaded models within its own
``RAM_MEMORY_LIMIT``, its own queues and response cache (unless a shared one such as
``disk`` is configured). ``/metrics`` merges the workers' values through the
Prometheus client's multiprocess mode, in ``PROMETHEUS_MULTIPROC_DIR`` (a temporary
folder when the operator sets none).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from altlas.config import ConfigError, Settings
from altlas.http.server import _raise_open_files_limit, server_options
from altlas.registry import PluginConflict

logger = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Seconds a worker replacing another (SIGHUP) has to start serving before the
# supervisor gives up on it and keeps the old one: it loads plugins and builds its
# catalog first.
_WORKER_START_S = 120


class WorkerConfig(uvicorn.Config):
    """A uvicorn config that builds the service in the process that loads it.

    Each worker reads its settings anew (``settings``: a picklable callable). The
    supervisor answers ``SIGHUP`` by replacing the workers one at a time, each new one
    serving before the old one stops, so the new workers start from the config file as
    it is then; a file that no longer loads stops the new worker before it serves, and
    the supervisor keeps the old ones.
    """

    def __init__(self, settings: Callable[[], Settings], **kwargs: Any) -> None:
        # The import string only satisfies uvicorn's checks: load() replaces it.
        super().__init__("altlas.main:app", **kwargs)
        self.settings = settings

    def load(self) -> None:
        """Build this worker's runtime and app (in the worker process)."""
        from altlas.http.app import create_app
        from altlas.runtime import Runtime

        try:
            settings = self.settings()
            app = create_app(Runtime(settings))
        except (ConfigError, PluginConflict) as error:
            logger.error("worker %d does not start: %s", os.getpid(), error)
            raise SystemExit(STARTUP_FAILURE) from None
        options = server_options(app, settings)
        self.app = options["app"]
        self.http = options["http"]
        super().load()


def serve_workers(
    settings: Callable[[], Settings],
    *,
    host: str,
    port: int,
    workers: int,
    graceful_timeout: float,
) -> None:
    """Serve on ``host``:``port`` with ``workers`` processes, each with the settings
    ``settings()`` reads in it, until SIGINT or SIGTERM; each worker shuts down as
    :func:`altlas.http.server.serve` does."""
    first = settings()
    _raise_open_files_limit(first.max_connections)
    with metrics_folder():
        config = WorkerConfig(
            settings,
            host=host,
            port=port,
            workers=workers,
            log_config=None,
            log_level=first.log_level.lower(),
            timeout_keep_alive=first.http_keep_alive_timeout,
            timeout_graceful_shutdown=graceful_timeout,
            timeout_worker_healthcheck=_WORKER_START_S,
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
