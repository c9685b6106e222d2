"""``altlas plugins`` says by its exit status whether every plugin loaded: scripts and CI
steps that run it notice a plugin that failed, in text and in JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from altlas.cli import PLUGIN_FAILED

BIN = Path(sys.executable).parent


def _plugins(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "altlas"), "plugins", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_exits_zero_when_every_plugin_loaded(base_env):
    result = _plugins({**base_env, "ALTLAS_LOAD_PLUGINS": "onnx"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "onnx  (altlas-onnx 0.1.0)" in result.stdout
    assert "FAILED" not in result.stdout


def test_exits_non_zero_when_a_plugin_failed(base_env, installed_fixture_plugins):
    env = {**base_env, "PYTHONPATH": str(installed_fixture_plugins)}
    result = _plugins(env)
    assert result.returncode == PLUGIN_FAILED != 0, result.stdout + result.stderr
    # The rest is still listed: the failure does not hide what did load.
    assert "fixture-echo  (altlas-fixture-echo 1.0.0)" in result.stdout
    assert "FAILED fixture-broken  (altlas-fixture-broken): RuntimeError:" in result.stdout


def test_json_output_exits_non_zero_too(base_env, installed_fixture_plugins):
    env = {**base_env, "PYTHONPATH": str(installed_fixture_plugins)}
    result = _plugins(env, "--json")
    assert result.returncode == PLUGIN_FAILED, result.stdout + result.stderr
    listing = json.loads(result.stdout)
    assert [failure["name"] for failure in listing["failures"]] == ["fixture-broken"]


def test_a_disabled_broken_plugin_is_no_failure(base_env, installed_fixture_plugins):
    env = {
        **base_env,
        "PYTHONPATH": str(installed_fixture_plugins),
        "ALTLAS_DISABLE_PLUGINS": base_env["ALTLAS_DISABLE_PLUGINS"] + ",fixture-broken",
    }
    result = _plugins(env)
    assert result.returncode == 0, result.stdout + result.stderr
