"""pytest fixtures for testing an altlas plugin against the real core.

pytest loads this module through the ``pytest11`` entry point ``altlas``. Every fixture
is function-scoped and isolated: its own MODEL_DIR and CACHE_DIR under ``tmp_path``,
and no setting read from the environment. Override ``altlas_plugins`` or
``altlas_environ`` in a test module or ``conftest.py`` to choose plugins and settings.

This module imports only pytest and the standard library at import time: pytest loads it
in every session of an environment that has the SDK installed, core or not.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    from altlas.runtime import Runtime


@pytest.fixture
def altlas_model_dir(tmp_path: Path) -> Path:
    """An empty MODEL_DIR for this test; put model files here before the runtime starts."""
    model_dir = tmp_path / "models"
    model_dir.mkdir()
    return model_dir


@pytest.fixture
def altlas_plugins() -> list[str] | None:
    """Plugin (or distribution) names to load besides the built-ins; ``None`` loads every
    installed plugin. Override this fixture to test one plugin alone."""
    return None


@pytest.fixture
def altlas_environ(
    altlas_model_dir: Path, altlas_plugins: list[str] | None, tmp_path: Path
) -> dict[str, str]:
    """The settings the runtime is built from, by variable name (as in the environment).

    Override it, requesting it to extend it, to set more (``LOAD_ON_DEMAND``...).
    """
    environ = {
        "MODEL_DIR": str(altlas_model_dir),
        "CACHE_DIR": str(tmp_path / "cache"),
        "USE_GPU": "false",
    }
    if altlas_plugins is not None:
        # An allow-list naming nothing that exists loads the built-ins alone.
        environ["ALTLAS_LOAD_PLUGINS"] = ",".join(altlas_plugins) or "none"
    return environ


@pytest.fixture
def altlas_runtime(altlas_environ: dict[str, str]) -> Runtime:
    """A real runtime: plugins loaded, catalog built, no model loaded yet."""
    from altlas.config import Settings
    from altlas.runtime import Runtime

    return Runtime(Settings.load(environ=altlas_environ))


@pytest.fixture
def altlas_app(altlas_runtime: Runtime) -> Starlette:
    """The real ASGI app serving ``altlas_runtime``."""
    from altlas.http.app import create_app

    return create_app(altlas_runtime)


@pytest.fixture
def altlas_client(altlas_app: Starlette) -> Iterator[TestClient]:
    """An HTTP client of ``altlas_app`` with its lifespan running (start-up hooks run on
    entry; every model is unloaded on exit). Server errors come back as 500 responses
    in the one JSON error shape, as a real client would see them."""
    from starlette.testclient import TestClient

    # As localhost: the service refuses Host names outside ALLOWED_HOSTS, and
    # TestClient's own default, 'testserver', is not one.
    with TestClient(
        altlas_app, base_url="http://localhost", raise_server_exceptions=False
    ) as client:
        yield client


@pytest.fixture
def altlas_server_url(altlas_app: Starlette) -> Iterator[str]:
    """``altlas_app`` served by a real uvicorn server on a free local port, for clients
    that need a real socket (``httpx``, the ``openai`` client, a browser); yields its
    base URL, ``http://127.0.0.1:<port>``, once the service has started."""
    from altlas_sdk.testing.server import serving

    with serving(altlas_app, timeout=30) as url:
        yield url
