"""A real altlas service, and real model files, for a plugin's own tests.

The fixtures of :mod:`altlas_sdk.testing.plugin` build one runtime per test. These
helpers are for what they do not cover: a runtime shared by a module's tests (a model
that takes seconds to load), a runtime with a config file, a backend tested directly on
a model's real files, or the process's default runtime behind ``altlas.get_...()``::

    from altlas_sdk.testing.service import build_runtime, serve


    @pytest.fixture(scope="module")
    def client(tmp_path_factory):
        root = tmp_path_factory.mktemp("service")
        runtime = build_runtime({"MODEL_DIR": str(root), "ALTLAS_LOAD_PLUGINS": "mine"})
        with serve(runtime) as client:
            yield client

They build the core's real objects (this module imports ``altlas-core``, which the
``testing`` extra installs); a test needs nothing else from the core. Settings come only
from the mapping given, never from the process environment.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.testclient import TestClient

from altlas.config import Settings
from altlas.default_plugins.sources import register_model_sources
from altlas.http.app import create_app
from altlas.model_files import ModelFilesResolver
from altlas.runtime import Runtime, set_runtime
from altlas_sdk.backend import Backend, DevicePolicy, LoadedModel, ModelFiles
from altlas_sdk.catalog import ModelSource, ModelSpec, SourceContext

__all__ = [
    "Runtime",
    "asgi_app",
    "build_runtime",
    "default_runtime",
    "fetch_model_files",
    "loaded_model",
    "serve",
]


def build_runtime(environ: Mapping[str, str], *, config_path: str | Path | None = None) -> Runtime:
    """A real runtime (plugins loaded, catalog built, no model loaded) with the settings
    in ``environ``, by variable name (``MODEL_DIR``, ``ALTLAS_LOAD_PLUGINS``...), and
    the config file at ``config_path``; nothing else is read from the environment."""
    return Runtime(Settings.load(environ=dict(environ), config_path=config_path))


def asgi_app(runtime: Runtime) -> Starlette:
    """The service's real ASGI app over ``runtime``; its lifespan starts and stops it
    (for :func:`altlas_sdk.testing.server.serving`, or any ASGI server)."""
    return create_app(runtime)


@contextmanager
def serve(runtime: Runtime) -> Iterator[TestClient]:
    """An HTTP client of the real app over ``runtime``, its lifespan running for the
    block: start-up hooks run on entry, every model is unloaded on exit. Server errors
    come back as ``500`` responses in the one JSON error shape, as a client sees them."""
    # As localhost: the service refuses Host names outside ALLOWED_HOSTS, and
    # TestClient's own default, 'testserver', is not one.
    with TestClient(
        create_app(runtime), base_url="http://localhost", raise_server_exceptions=False
    ) as client:
        yield client


@contextmanager
def default_runtime(runtime: Runtime) -> Iterator[Runtime]:
    """Make ``runtime`` the process's default for the block, the one the design
    document's entry points (``altlas.get_llama_cpp_adapter()``...) use; forgotten on
    exit, so that no other test sees it."""
    set_runtime(runtime)
    try:
        yield runtime
    finally:
        set_runtime(None)


def fetch_model_files(spec: ModelSpec, root: Path) -> ModelFiles:
    """The files of the catalog entry ``spec``, fetched as the service would: through
    the core's built-in sources (``file:``, ``package:``, ``https:``, ``hf:``),
    downloading into ``root`` (used as both MODEL_DIR and CACHE_DIR)."""
    sources: dict[str, ModelSource] = {}

    def register(source: ModelSource) -> None:
        sources[source.scheme] = source

    register_model_sources(register)
    return ModelFilesResolver(sources, SourceContext(model_dir=root, cache_dir=root)).fetch(spec)


@contextmanager
def loaded_model(backend: Backend, spec: ModelSpec, root: Path) -> Iterator[LoadedModel]:
    """``spec`` loaded by ``backend`` on the CPU from its real files (fetched into
    ``root`` by :func:`fetch_model_files`), for testing the backend directly; unloaded
    when the block ends."""
    model = backend.load(spec, fetch_model_files(spec, root), DevicePolicy(use_gpu=False))
    try:
        yield model
    finally:
        model.unload()
