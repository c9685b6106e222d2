"""The SDK compatibility rule: a plugin whose declared ``altlas-sdk`` range excludes the
installed SDK is skipped before it is imported, and reported."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import PathDistribution, entry_points
from pathlib import Path

import pytest

from altlas.compat import installed_sdk_version, sdk_incompatibility
from altlas_sdk import __version__ as sdk_version

BIN = Path(sys.executable).parent


def _distribution(folder: Path, *requires: str) -> PathDistribution:
    """A real distribution's metadata folder, as pip writes it."""
    info = folder / "altlas_sample-1.0.dist-info"
    info.mkdir()
    lines = ["Metadata-Version: 2.4", "Name: altlas-sample", "Version: 1.0"]
    lines += [f"Requires-Dist: {requirement}" for requirement in requires]
    (info / "METADATA").write_text("\n".join(lines) + "\n")
    return PathDistribution(info)


def test_installed_sdk_version_is_the_sdk_package_version():
    assert installed_sdk_version() == sdk_version


@pytest.mark.parametrize(
    "requires",
    [
        (),
        ("numpy>=1.24",),
        ("altlas-sdk",),
        ("altlas-sdk>=0.1,<0.2",),
        ("altlas-sdk>=9; extra == 'future'",),
        ("altlas-sdk>=9; python_version < '3'",),
    ],
)
def test_compatible_declarations(tmp_path, requires):
    assert sdk_incompatibility(_distribution(tmp_path, *requires), "0.1.0") is None


def test_an_excluding_range_is_explained(tmp_path):
    reason = sdk_incompatibility(_distribution(tmp_path, "Altlas_SDK>=0.2,<0.3"), "0.1.0")
    assert reason == (
        "incompatible SDK: altlas-sample requires altlas-sdk<0.3,>=0.2 but altlas-sdk 0.1.0 "
        "is installed; install a release of altlas-sample that supports altlas-sdk 0.1.0"
    )


def test_a_development_sdk_still_satisfies_its_range(tmp_path):
    distribution = _distribution(tmp_path, "altlas-sdk>=0.2,<0.3")
    assert sdk_incompatibility(distribution, "0.2.1.dev3") is None
    assert sdk_incompatibility(distribution, "0.3.0rc1") is not None


def test_incompatible_plugin_is_skipped_unimported_and_reported(
    fixture_plugins, make_runtime, serve
):
    runtime = make_runtime(ALTLAS_DISABLE_PLUGINS="fixture-clash")
    assert "altlas_fixture_future" not in sys.modules
    assert "fixture-future" not in runtime.plugins.records
    with serve(runtime) as client:
        failures = client.get("/api/plugins").json()["failures"]
        future = next(f for f in failures if f["name"] == "fixture-future")
        assert future["distribution"] == "altlas-fixture-future"
        assert future["error"].startswith(
            "incompatible SDK: altlas-fixture-future requires altlas-sdk<0.3,>=0.2 but "
            f"altlas-sdk {sdk_version} is installed"
        )
        # Everything else keeps serving.
        response = client.post("/api/inference/", json={"model_id": "echo-1", "inputs": "abc"})
        assert response.json()["outputs"]["text"] == "cba"


def test_cli_reports_the_incompatible_plugin(base_env, installed_fixture_plugins):
    env = {
        **os.environ,
        **base_env,
        "ALTLAS_DISABLE_PLUGINS": "fixture-clash",
        "PYTHONPATH": str(installed_fixture_plugins),
    }
    result = subprocess.run(
        [str(BIN / "altlas"), "plugins"], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert (
        "FAILED fixture-future  (altlas-fixture-future): incompatible SDK: "
        "altlas-fixture-future requires altlas-sdk<0.3,>=0.2" in result.stdout
    )


def test_every_installed_plugin_declares_a_range_that_holds():
    for entry_point in entry_points(group="altlas"):
        distribution = entry_point.dist
        assert distribution is not None
        declared = [r for r in distribution.requires or [] if r.startswith("altlas-sdk")]
        assert any(">=" in r and "<" in r for r in declared), (
            f"{distribution.metadata['Name']} must declare its SDK range, e.g. "
            f"altlas-sdk>=0.1,<0.2 (docs/plugins.md, Compatibility); it declares {declared}"
        )
        assert sdk_incompatibility(distribution) is None
