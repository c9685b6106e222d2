"""Fixtures shared by the core's tests and every plugin's tests."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from altlas.runtime import Runtime
from altlas_sdk.testing.service import asgi_app, build_runtime
from altlas_sdk.testing.service import serve as serve_runtime

REPO = Path(__file__).resolve().parent
FIXTURE_PLUGINS = REPO / "tests" / "fixture_plugins"


@pytest.fixture(scope="session")
def installed_fixture_plugins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture plugin distributions, really pip-installed into a folder of their own
    (so that the developer's environment never serves them)."""
    target = tmp_path_factory.mktemp("fixture-plugins")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            *(str(path) for path in sorted(FIXTURE_PLUGINS.iterdir())),
        ],
        check=True,
    )
    return target


@pytest.fixture
def fixture_plugins(installed_fixture_plugins: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put the installed fixture plugins on ``sys.path`` for this test only."""
    monkeypatch.syspath_prepend(str(installed_fixture_plugins))
    return installed_fixture_plugins


@pytest.fixture
def base_env(tmp_path: Path) -> dict[str, str]:
    """Settings for an isolated service: its own MODEL_DIR and CACHE_DIR; the clashing
    and the SDK-incompatible fixture plugins disabled unless a test enables them."""
    (tmp_path / "models").mkdir()
    return {
        "MODEL_DIR": str(tmp_path / "models"),
        "CACHE_DIR": str(tmp_path / "cache"),
        "ALTLAS_DISABLE_PLUGINS": "fixture-clash,fixture-future,fixture-flaky",
    }


@pytest.fixture
def make_runtime(base_env: dict[str, str]) -> Callable[..., Runtime]:
    """Build a runtime from ``base_env`` plus overrides (``None`` removes a setting)."""

    def make(config_path: str | Path | None = None, **overrides: str | None) -> Runtime:
        env = {**base_env, **overrides}
        return build_runtime(
            {k: v for k, v in env.items() if v is not None}, config_path=config_path
        )

    return make


@pytest.fixture
def serve() -> Callable[[Runtime], AbstractContextManager[TestClient]]:
    """Serve a runtime through the real app with lifespan, as a TestClient (the SDK
    testing kit's :func:`~altlas_sdk.testing.service.serve`)."""
    return serve_runtime


def free_port() -> int:
    """A TCP port nothing listens on now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """A server running as a real subprocess: its base URL, and once it has stopped,
    everything it printed."""

    def __init__(self, base: str, process: subprocess.Popen[str]) -> None:
        self.base = base
        self.process = process
        self.output = ""


@contextmanager
def server_process(
    command: Callable[[int], list[str]], env: dict[str, str], *, check: bool = True
) -> Iterator[ServerProcess]:
    """Start ``command(port)`` (a server on a free port) with ``env`` added to the
    environment, wait until ``/healthz`` answers, and stop it with SIGINT on the way
    out; with ``check``, a server that does not exit cleanly fails the test."""
    import os
    import signal
    import threading
    import time

    import httpx

    port = free_port()
    process = subprocess.Popen(
        command(port),
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    server = ServerProcess(f"http://127.0.0.1:{port}", process)
    # Read the output as it comes: a pipe nobody reads fills up (64 KiB of access log, a
    # test polling /metrics) and the server then blocks in the middle of a request.
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{server.base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                if process.poll() is not None:
                    reader.join(timeout=5)  # the rest of what it printed
                raise AssertionError(f"server did not start:\n{''.join(lines)}")
            time.sleep(0.1)
        yield server
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
        finally:
            reader.join(timeout=5)
            process.stdout.close()
            server.output = "".join(lines)
    if check:
        assert process.returncode == 0, server.output


def altlas_command(port: int) -> list[str]:
    """``altlas serve`` on ``port``, from this interpreter's environment."""
    return [str(Path(sys.executable).parent / "altlas"), "serve", "--port", str(port)]


@pytest.fixture(scope="session")
def run_server() -> Callable[..., AbstractContextManager[ServerProcess]]:
    """:func:`server_process`, for tests that start their own server command."""
    return server_process


@pytest.fixture
def altlas_server(base_env: dict[str, str]) -> Callable[..., AbstractContextManager[Any]]:
    """Run ``altlas serve`` as a real subprocess on a free port; yields an httpx client
    on its base URL (``client.base_url``). Settings: ``base_env`` plus ``env``."""
    import httpx

    @contextmanager
    def run(env: dict[str, str] | None = None, timeout: float = 60) -> Iterator[httpx.Client]:
        with server_process(altlas_command, {**base_env, **(env or {})}) as server:
            with httpx.Client(base_url=server.base, timeout=timeout) as client:
                yield client

    return run


@pytest.fixture(scope="session")
def serve_with_config(
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[[str], AbstractContextManager[str]]:
    """``with serve_with_config(toml) as url:`` serves every installed plugin on the CPU,
    with ``toml`` as the config file and empty MODEL_DIR and CACHE_DIR of its own, from
    a real uvicorn server in a thread; yields its base URL."""
    from altlas_sdk.testing.server import serving

    @contextmanager
    def run(config_text: str) -> Iterator[str]:
        config = tmp_path_factory.mktemp("config") / "altlas.toml"
        config.write_text(config_text)
        runtime = build_runtime(
            {
                "MODEL_DIR": str(tmp_path_factory.mktemp("models")),
                "CACHE_DIR": str(tmp_path_factory.mktemp("cache")),
                "USE_GPU": "false",
            },
            config_path=config,
        )
        with serving(asgi_app(runtime)) as url:
            yield url

    return run


@pytest.fixture(scope="session")
def run_plugin_tests() -> Callable[[Path, Path], subprocess.CompletedProcess[str]]:
    """Run a plugin's own test suite (``tests/`` of its source folder) in a fresh pytest
    process that imports the plugin as installed in ``site``, as its author would."""
    import os

    def run(source: Path, site: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
            cwd=source,
            env={**os.environ, "PYTHONPATH": str(site)},
            capture_output=True,
            text=True,
            check=False,
        )

    return run


@pytest.fixture(scope="session")
def build_and_install() -> Callable[[Path, Path], tuple[Path, Path]]:
    """Build a plugin's source folder into a wheel in ``root`` and pip-install that
    wheel into ``root/site``, the way pip installs any plugin; returns both paths."""

    def pip(*args: str) -> None:
        subprocess.run(
            [sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
            check=True,
            capture_output=True,
        )

    def build(source: Path, root: Path) -> tuple[Path, Path]:
        pip(
            "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(root), str(source)
        )
        (wheel,) = root.glob("*.whl")
        site = root / "site"
        pip("install", "--no-deps", "--no-index", "--target", str(site), str(wheel))
        return wheel, site

    return build
