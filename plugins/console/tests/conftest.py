"""A real server with the console and the fixture plugins, and Debian's chromium driven
by Playwright (its own browser download is not used: executable_path)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")


def _command(port: int) -> list[str]:
    return [str(Path(sys.executable).parent / "altlas"), "serve", "--port", str(port)]


@pytest.fixture(scope="module")
def console_env(
    installed_fixture_plugins: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """A service of its own with the fixture plugins importable: the broken one fails."""
    root = tmp_path_factory.mktemp("console-service")
    (root / "models").mkdir()
    return {
        "MODEL_DIR": str(root / "models"),
        "CACHE_DIR": str(root / "cache"),
        "ALTLAS_DISABLE_PLUGINS": "fixture-clash,fixture-future,fixture-flaky",
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(installed_fixture_plugins), os.environ.get("PYTHONPATH")])
        ),
    }


@pytest.fixture(scope="module")
def console_server(run_server: Callable[..., Any], console_env: dict[str, str]) -> Iterator[str]:
    """The base URL of a running ``altlas serve`` (one per test module: models loaded by
    one test stay loaded for the next, as they would for an operator)."""
    with run_server(_command, console_env) as server:
        yield server.base


# Per module, not per session: Playwright's sync API keeps an event loop running in the
# main thread while it is open, and the suite's later tests call asyncio.run().
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail("no /usr/bin/chromium: scripts/install.sh installs it (Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            # The TTS answer plays without a click; root in a container has no sandbox.
            args=["--autoplay-policy=no-user-gesture-required", "--no-sandbox"],
        )
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where each view's screenshot goes, for a person to look at."""
    folder = tmp_path_factory.mktemp("console-screenshots")
    print(f"console screenshots: {folder}")
    return folder


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh tab; the test fails if the page logs an error or throws."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    tab = context.new_page()
    problems: list[str] = []
    tab.on("console", lambda m: m.type == "error" and problems.append(m.text))
    tab.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
    # The console's message does not name the URL: this does.
    tab.on("response", lambda r: r.status >= 400 and problems.append(f"{r.status} {r.url}"))
    tab.problems = problems
    yield tab
    context.close()
    assert problems == [], f"the browser console reported errors: {problems}"
