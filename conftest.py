"""Fixtures shared by the core's tests and every plugin's tests."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from altlas.config import Settings
from altlas.http.app import create_app
from altlas.runtime import Runtime

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
        "ALTLAS_DISABLE_PLUGINS": "fixture-clash,fixture-future",
    }


@pytest.fixture
def make_runtime(base_env: dict[str, str]) -> Callable[..., Runtime]:
    """Build a runtime from ``base_env`` plus overrides (``None`` removes a setting)."""

    def make(config_path: str | Path | None = None, **overrides: str | None) -> Runtime:
        env = {**base_env, **overrides}
        return Runtime(
            Settings.load(
                environ={k: v for k, v in env.items() if v is not None}, config_path=config_path
            )
        )

    return make


@pytest.fixture
def serve() -> Callable[[Runtime], AbstractContextManager[TestClient]]:
    """Serve a runtime through the real app with lifespan, as a TestClient."""

    @contextmanager
    def run(runtime: Runtime) -> Iterator[TestClient]:
        with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
            yield client

    return run
