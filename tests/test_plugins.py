"""Plugin discovery through real entry points, failures, allow/deny lists, conflicts."""

from __future__ import annotations

import types

import pytest

from altlas.config import Settings
from altlas.plugins import DEFAULT_PLUGINS, PluginRecord, load_plugins
from altlas.registry import PluginConflict, collect_registrations
from altlas_sdk import PluginRoute, hookimpl


def test_builtins_are_plugins_of_altlas_core(make_runtime):
    runtime = make_runtime()
    for name in DEFAULT_PLUGINS:
        record = runtime.plugins.records[name]
        assert record.builtin and record.distribution == "altlas-core"
    assert {"text-generation", "chat", "embedding", "tensor"} <= set(runtime.registry.tasks)
    assert {"file", "package", "https", "http", "hf"} <= set(runtime.registry.sources)
    runtime.plugins.pm.check_pending()


def test_entry_point_plugin_is_discovered_with_its_distribution(
    fixture_plugins, make_runtime, serve
):
    runtime = make_runtime()
    record = runtime.plugins.records["fixture-echo"]
    assert (record.distribution, record.version, record.builtin) == (
        "altlas-fixture-echo",
        "1.0.0",
        False,
    )
    assert runtime.registry.backends["echo"].plugin == "fixture-echo"
    assert "reverse-text" in runtime.registry.tasks
    with serve(runtime) as client:
        listing = client.get("/api/plugins").json()
        echo = next(p for p in listing["plugins"] if p["name"] == "fixture-echo")
        assert "register_backends" in echo["hooks"]
        assert client.get("/api/plugins/fixture-echo/ping").json() == {"pong": True}


def test_broken_plugin_is_reported_and_the_rest_keeps_working(fixture_plugins, make_runtime, serve):
    with serve(make_runtime()) as client:
        failures = client.get("/api/plugins").json()["failures"]
        assert failures == [
            {
                "name": "fixture-broken",
                "distribution": "altlas-fixture-broken",
                "error": "RuntimeError: fixture plugin failed on purpose",
            }
        ]
        response = client.post("/api/inference/", json={"model_id": "echo-1", "inputs": "abc"})
        assert response.json()["outputs"]["text"] == "cba"


def test_allow_list_by_plugin_or_distribution_name(fixture_plugins, make_runtime):
    runtime = make_runtime(ALTLAS_LOAD_PLUGINS="fixture-echo")
    names = {r.name for r in runtime.plugins.records.values() if not r.builtin}
    assert names == {"fixture-echo"} and runtime.plugins.failures == []
    runtime = make_runtime(ALTLAS_LOAD_PLUGINS="altlas-onnx,altlas-fixture-broken")
    names = {r.name for r in runtime.plugins.records.values() if not r.builtin}
    assert names == {"onnx"}
    assert [f.name for f in runtime.plugins.failures] == ["fixture-broken"]


def test_disable_list(fixture_plugins, make_runtime):
    runtime = make_runtime(
        ALTLAS_DISABLE_PLUGINS="fixture-clash,fixture-future,fixture-broken,onnx"
    )
    assert "onnx" not in runtime.plugins.records
    assert "onnx" not in runtime.registry.backends
    assert runtime.plugins.failures == []


def test_duplicate_backend_fails_start_naming_both_distributions(fixture_plugins, make_runtime):
    with pytest.raises(PluginConflict) as raised:
        make_runtime(ALTLAS_DISABLE_PLUGINS=None)
    message = str(raised.value)
    assert "backend 'echo'" in message
    assert "altlas-fixture-echo" in message and "altlas-fixture-clash" in message


def _collect_with(plugin: object) -> tuple:
    plugins = load_plugins(Settings.load(environ={"ALTLAS_LOAD_PLUGINS": "none"}))
    plugins.register(plugin, PluginRecord("inline", "inline-dist", "1", False))
    registry = collect_registrations(plugins)
    return plugins, registry


def test_plugin_whose_register_hook_raises_is_skipped_whole():
    plugin = types.SimpleNamespace()

    @hookimpl
    def register_catalog_entries(register):
        raise ValueError("bad catalog")

    plugin.register_catalog_entries = register_catalog_entries
    plugins, _registry = _collect_with(plugin)
    assert [(f.name, f.distribution) for f in plugins.failures] == [("inline", "inline-dist")]
    assert "bad catalog" in plugins.failures[0].error
    assert "inline" not in plugins.records


def test_plugin_route_outside_its_prefix_is_refused():
    from starlette.responses import PlainTextResponse

    plugin = types.SimpleNamespace()

    @hookimpl
    def register_routes(register):
        register(PluginRoute("/api/models/hijack", PlainTextResponse("x")))

    plugin.register_routes = register_routes
    plugins, registry = _collect_with(plugin)
    assert "outside /api/plugins/" in plugins.failures[0].error
    assert registry.routes == {}


def test_registering_the_wrong_type_is_reported():
    plugin = types.SimpleNamespace()

    @hookimpl
    def register_backends(register):
        register("not a backend")

    plugin.register_backends = register_backends
    plugins, _ = _collect_with(plugin)
    assert "expected Backend" in plugins.failures[0].error


def test_unknown_hook_is_a_plugin_failure(fixture_plugins, monkeypatch, tmp_path):
    # A real distribution implementing a hook that does not exist.
    import subprocess
    import sys

    source = tmp_path / "src"
    package = source / "altlas_fixture_typo"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        "from altlas_sdk import hookimpl\n\n@hookimpl\ndef register_backend(register):\n    pass\n"
    )
    (source / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
        '[project]\nname = "altlas-fixture-typo"\nversion = "0.1"\n'
        '[project.entry-points.altlas]\nfixture-typo = "altlas_fixture_typo"\n'
        '[tool.hatch.build.targets.wheel]\npackages = ["altlas_fixture_typo"]\n'
    )
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
    )
    monkeypatch.syspath_prepend(str(target))
    plugins = load_plugins(Settings.load(environ={"ALTLAS_LOAD_PLUGINS": "fixture-typo"}))
    assert [f.distribution for f in plugins.failures] == ["altlas-fixture-typo"]
    assert "register_backend" in plugins.failures[0].error
    plugins.pm.check_pending()


def test_a_plugin_may_mount_the_console_at_ui_and_nothing_else_there():
    from starlette.responses import PlainTextResponse

    from altlas_sdk import PluginMount

    plugin = types.SimpleNamespace()

    @hookimpl
    def register_routes(register):
        register(PluginMount("/ui", PlainTextResponse("console")))

    plugin.register_routes = register_routes
    plugins, registry = _collect_with(plugin)
    assert plugins.failures == []
    assert list(registry.routes) == ["MOUNT /ui"]

    # Only a mount: a single route at /ui stays the core's.
    @hookimpl
    def register_routes(register):
        register(PluginRoute("/ui", PlainTextResponse("x")))

    plugin.register_routes = register_routes
    plugins, registry = _collect_with(plugin)
    assert "outside /api/plugins/" in plugins.failures[0].error
