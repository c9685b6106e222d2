"""The SDK owns the hookspecs: typed, documented, and the core's module only re-exports
them, so a plugin author sees every signature with the SDK alone."""

from __future__ import annotations

import inspect
import subprocess
import sys

from altlas import hookspecs as core_hookspecs
from altlas.plugins import Plugins
from altlas_sdk import PROJECT_NAME, hookspecs


def _specs(module: object) -> dict[str, object]:
    return {
        name: function
        for name, function in inspect.getmembers(module, inspect.isfunction)
        if hasattr(function, f"{PROJECT_NAME}_spec")
    }


def test_the_core_re_exports_the_sdks_hookspecs():
    assert _specs(core_hookspecs) == _specs(hookspecs)
    assert len(_specs(hookspecs)) >= 12


def test_the_plugin_manager_knows_every_sdk_hook():
    manager = Plugins().pm
    assert set(_specs(hookspecs)) <= {
        name for name in dir(manager.hook) if not name.startswith("_")
    }


def test_every_hookspec_is_typed_and_documented():
    for name, function in _specs(hookspecs).items():
        assert function.__module__ == "altlas_sdk.hookspecs", name
        assert function.__doc__ and function.__doc__.strip(), name
        signature = inspect.signature(function)
        assert signature.return_annotation is not inspect.Signature.empty, name
        for parameter in signature.parameters.values():
            assert parameter.annotation is not inspect.Parameter.empty, f"{name}({parameter.name})"


def test_firstresult_hooks_say_so_in_words():
    for name, function in _specs(hookspecs).items():
        options = getattr(function, f"{PROJECT_NAME}_spec")
        if options.get("firstresult"):
            assert "stops at first non-None result" in " ".join(function.__doc__.split()), name


def test_the_sdks_contract_imports_neither_the_core_nor_starlette():
    code = (
        "import sys, altlas_sdk, altlas_sdk.hookspecs, altlas_sdk.services, altlas_sdk.routes\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('altlas', 'starlette')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
