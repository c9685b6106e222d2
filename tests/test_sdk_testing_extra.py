"""The documented install of the plugin author's kit, ``altlas-sdk[testing]``, brings
the HTTP client Starlette's ``TestClient`` runs on, so the conformance suite passes under
``filterwarnings = ["error"]`` without an undocumented package (on plain ``httpx``,
Starlette 1.x warns ``StarletteDeprecationWarning`` at every TestClient import)."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.metadata import requires

from starlette import testclient

REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _testing_extra() -> set[str]:
    names = set()
    for requirement in requires("altlas-sdk") or []:
        if re.search(r"""extra\s*==\s*["']testing["']""", requirement):
            match = REQUIREMENT_NAME.match(requirement)
            assert match is not None, requirement
            names.add(match[1].lower())
    return names


def test_the_testing_extra_brings_the_client_starlette_s_test_client_uses():
    client = testclient.httpx.__name__.split(".")[0]
    assert client in _testing_extra(), (
        f"starlette.testclient runs on {client}; altlas-sdk[testing] must depend on it "
        f"(sdk/pyproject.toml), it declares {sorted(_testing_extra())}"
    )
    assert {"altlas-core", "pytest"} <= _testing_extra()


def test_importing_the_test_client_warns_nothing():
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", "import starlette.testclient"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
