"""altlas plugin: the web console, static files mounted at ``/ui``.

The page talks to the service's own HTTP API from the browser (with the API key the
operator types in, when keys are on); this package only serves the files. The page's
libraries are vendored under ``static/vendor`` by ``scripts/build-console.sh``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from starlette.staticfiles import StaticFiles

from altlas_sdk import PluginMount, PluginRoute, hookimpl
from altlas_sdk.routes import CONSOLE_PATH

__version__ = "0.1.0"

#: The page, its scripts and the vendored libraries.
STATIC_DIR = Path(__file__).parent / "static"


@hookimpl
def register_routes(register: Callable[[PluginRoute | PluginMount], None]) -> None:
    # html=True answers /ui/ with index.html; the router redirects /ui to /ui/.
    register(PluginMount(CONSOLE_PATH, StaticFiles(directory=STATIC_DIR, html=True), "console"))
