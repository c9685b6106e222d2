"""Fixtures of the llama-cpp plugin's tests: the tiny random-weight GGUF of
:mod:`altlas_llama_cpp.testing` (code paths only: output quality is tested on the real
SmolLM2), and a real uvicorn server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from altlas_llama_cpp.testing import write_tiny_gguf
from altlas_sdk.testing.server import serving as serving_app
from altlas_sdk.testing.service import Runtime, asgi_app, build_runtime


@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model's file."""
    return write_tiny_gguf(tmp_path_factory.mktemp("gguf") / "tiny.gguf")


@pytest.fixture(scope="session")
def tiny_gguf_without_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model without a chat template in its metadata."""
    return write_tiny_gguf(tmp_path_factory.mktemp("gguf") / "plain.gguf", template=False)


@dataclass
class Server:
    """A real uvicorn server on a free local port, serving ``runtime``."""

    url: str
    runtime: Runtime


def make_runtime(root: Path, config: str = "", **environ: str) -> Runtime:
    """A runtime with its own MODEL_DIR and CACHE_DIR under ``root``, and the
    llama-cpp and onnx plugins only; ``config`` is the config file's TOML."""
    (root / "models").mkdir(parents=True, exist_ok=True)
    config_path = None
    if config:
        config_path = root / "altlas.toml"
        config_path.write_text(config)
    env = {
        "MODEL_DIR": str(root / "models"),
        "CACHE_DIR": str(root / "cache"),
        "ALTLAS_LOAD_PLUGINS": "llama-cpp,onnx",
        "LOG_LEVEL": "WARNING",
        **environ,
    }
    return build_runtime(env, config_path=config_path)


@contextmanager
def serving(runtime: Runtime) -> Iterator[Server]:
    """Run ``runtime`` behind uvicorn in a thread, on a free port, until the block ends."""
    with serving_app(asgi_app(runtime)) as url:
        yield Server(url, runtime)


@pytest.fixture(scope="session")
def runtime_for() -> Callable[..., Runtime]:
    """``runtime_for(root, config="", **environ)`` builds a runtime (see make_runtime)."""
    return make_runtime


@pytest.fixture(scope="session")
def uvicorn_server() -> Callable[[Runtime], AbstractContextManager[Server]]:
    """``with uvicorn_server(runtime) as server:`` runs a real uvicorn server."""
    return serving
