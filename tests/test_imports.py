"""Importing the core, the SDK or any plugin never imports a heavy library."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import entry_points

HEAVY = ("numpy", "onnxruntime", "tokenizers", "torch", "llama_cpp", "ultralytics", "cv2")


def _imported_after(code: str) -> set[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    output = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True
    ).stdout
    return set(json.loads(output.splitlines()[-1]))


def test_core_and_sdk_import_nothing_heavy():
    modules = _imported_after("import altlas, altlas_sdk, altlas.main, altlas.cli")
    assert not modules & set(HEAVY)


def test_every_installed_plugin_imports_nothing_heavy():
    plugins = sorted(entry_points(group="altlas"), key=lambda ep: ep.name)
    assert "onnx" in {ep.name for ep in plugins}
    for entry_point in plugins:
        modules = _imported_after(f"import {entry_point.value.split(':')[0]}")
        assert not modules & set(HEAVY), entry_point.name


def test_building_the_runtime_loads_no_heavy_library():
    code = (
        "from altlas.config import Settings\nfrom altlas.runtime import Runtime\n"
        "runtime = Runtime(Settings.load(environ={}))\nruntime.models.list_models()"
    )
    assert not _imported_after(code) & set(HEAVY)
