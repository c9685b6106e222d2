"""Registration hooks run through pluggy's ordering: tryfirst, trylast and wrappers work,
and every item is still known by the plugin that registered it."""

from __future__ import annotations

import subprocess
import sys
import types
from collections.abc import Callable, Iterator

import pytest
from starlette.responses import PlainTextResponse

from altlas.config import Settings
from altlas.plugins import PluginRecord, Plugins, load_plugins
from altlas.registry import PluginConflict, Registry, collect_registrations
from altlas_sdk import ModelSpec, PluginMount, PluginRoute, hookimpl


def _entry(model_id: str) -> ModelSpec:
    return ModelSpec(id=model_id, backend="none", tasks=["embedding"], source="file:x")


def _plugin(**hooks: Callable[..., object]) -> types.SimpleNamespace:
    return types.SimpleNamespace(**hooks)


def _collect(*plugins: tuple[str, object]) -> tuple[Plugins, Registry]:
    """The built-ins plus ``plugins`` (name, object), registered in that order, each from
    a distribution named after it."""
    loaded = load_plugins(Settings.load(environ={"ALTLAS_LOAD_PLUGINS": "none"}))
    for name, plugin in plugins:
        loaded.register(plugin, PluginRecord(name, f"{name}-dist", "1", False))
    return loaded, collect_registrations(loaded)


def _cataloguer(*model_ids: str, **marks: bool) -> types.SimpleNamespace:
    @hookimpl(**marks)
    def register_catalog_entries(register):
        for model_id in model_ids:
            register(_entry(model_id))

    return _plugin(register_catalog_entries=register_catalog_entries)


def _order(registry: Registry) -> list[str]:
    return list(registry.catalog)


def test_tryfirst_registers_before_everyone_and_trylast_after():
    _, registry = _collect(
        ("early", _cataloguer("early-1", tryfirst=True)),
        ("plain", _cataloguer("plain-1")),
        ("late", _cataloguer("late-1", trylast=True)),
    )
    order = _order(registry)
    # The built-ins' example catalog sits between them, like any unmarked plugin.
    assert order[0] == "early-1" and order[-1] == "late-1"
    assert "plain-1" in order[1:-1] and len(order) > 3
    assert registry.catalog["early-1"].plugin == "early"
    assert registry.catalog["late-1"].plugin == "late"


def test_unmarked_implementations_run_in_pluggys_order_last_loaded_first():
    _, registry = _collect(("first", _cataloguer("a")), ("second", _cataloguer("b")))
    order = _order(registry)
    assert order.index("b") < order.index("a")


def _wrapper(before: str, after: str, seen: list[object]) -> types.SimpleNamespace:
    @hookimpl(wrapper=True)
    def register_catalog_entries(register):
        register(_entry(before))
        result = yield
        seen.append(result)
        register(_entry(after))
        return result

    return _plugin(register_catalog_entries=register_catalog_entries)


def test_a_wrapper_registers_around_every_other_implementation():
    seen: list[object] = []
    _, registry = _collect(
        ("wrapping", _wrapper("before", "after", seen)),
        ("early", _cataloguer("early-1", tryfirst=True)),
    )
    order = _order(registry)
    assert order[0] == "before" and order[-1] == "after" and order[1] == "early-1"
    assert registry.catalog["before"].plugin == registry.catalog["after"].plugin == "wrapping"
    assert seen == [None]


def test_an_old_style_hookwrapper_gets_a_result():
    outcomes: list[object] = []

    @hookimpl(hookwrapper=True)
    def register_catalog_entries(register):
        outcome = yield
        outcomes.append(outcome.get_result())
        register(_entry("wrapped-late"))

    _, registry = _collect(("old", _plugin(register_catalog_entries=register_catalog_entries)))
    assert outcomes == [None]
    assert _order(registry)[-1] == "wrapped-late"


def test_a_wrapper_failing_after_its_yield_loses_what_it_registered_before():
    @hookimpl(wrapper=True)
    def register_catalog_entries(register):
        register(_entry("kept-out"))
        yield
        raise RuntimeError("wrapper broke")

    plugins, registry = _collect(
        ("broken", _plugin(register_catalog_entries=register_catalog_entries))
    )
    assert "kept-out" not in registry.catalog
    assert [(f.name, f.distribution) for f in plugins.failures] == [("broken", "broken-dist")]
    assert "wrapper broke" in plugins.failures[0].error


def test_a_wrapper_that_never_yields_is_a_plugin_failure():
    @hookimpl(wrapper=True)
    def register_catalog_entries(register):
        register(_entry("never"))
        return
        yield  # a generator that ends before yielding

    plugins, registry = _collect(
        ("lazy", _plugin(register_catalog_entries=register_catalog_entries))
    )
    assert "did not yield" in plugins.failures[0].error
    assert "never" not in registry.catalog


def test_a_plugin_failing_in_a_later_hook_loses_its_earlier_registrations():
    @hookimpl
    def register_facades(register):
        raise ValueError("facade broke")

    plugin = _cataloguer("kept-out")
    plugin.register_facades = register_facades
    plugins, registry = _collect(("half", plugin), ("fine", _cataloguer("fine-1")))
    assert "kept-out" not in registry.catalog
    assert "fine-1" in registry.catalog
    assert [f.name for f in plugins.failures] == ["half"]
    assert "half" not in plugins.records


def test_a_clash_names_both_distributions_whatever_the_markers():
    with pytest.raises(PluginConflict) as raised:
        _collect(("one", _cataloguer("same")), ("two", _cataloguer("same", trylast=True)))
    assert "one-dist (plugin one)" in str(raised.value)
    assert "two-dist (plugin two)" in str(raised.value)


def _router(*records: object) -> types.SimpleNamespace:
    @hookimpl
    def register_routes(register):
        for record in records:
            register(record)

    return _plugin(register_routes=register_routes)


def test_a_route_that_is_not_an_sdk_record_is_refused():
    from starlette.routing import Route

    route = Route("/api/plugins/web/x", lambda request: PlainTextResponse("x"))
    plugins, registry = _collect(("web", _router(route)))
    assert "expected PluginRoute or PluginMount" in plugins.failures[0].error
    assert registry.routes == {}


def test_the_same_path_with_other_methods_is_another_route():
    async def app(scope, receive, send):
        await PlainTextResponse(scope["method"])(scope, receive, send)

    _, registry = _collect(
        (
            "web",
            _router(
                PluginRoute("/api/plugins/web/x", app, methods=("get",)),
                PluginRoute("/api/plugins/web/x", app, methods=("POST", "PUT")),
            ),
        )
    )
    assert set(registry.routes) == {"GET /api/plugins/web/x", "POST,PUT /api/plugins/web/x"}


@pytest.fixture
def web_plugin_runtime(make_runtime, monkeypatch) -> Iterator[object]:
    """A runtime whose plugin ``web`` serves a route and a mounted sub-application."""

    async def hello(scope, receive, send):
        name = scope["path_params"]["name"]
        await PlainTextResponse(f"hello {name}")(scope, receive, send)

    async def files(scope, receive, send):
        await PlainTextResponse(f"{scope['root_path']} {scope['path']}")(scope, receive, send)

    plugin = _router(
        PluginRoute("/api/plugins/web/hello/{name}", hello, methods=("GET",)),
        PluginMount("/api/plugins/web/files", files),
    )
    original = load_plugins

    def with_web(settings):
        plugins = original(settings)
        plugins.register(plugin, PluginRecord("web", "web-dist", "1", False))
        return plugins

    monkeypatch.setattr("altlas.runtime.load_plugins", with_web)
    yield make_runtime(ALTLAS_LOAD_PLUGINS="none")


def test_route_records_are_served_by_the_http_layer(web_plugin_runtime, serve):
    with serve(web_plugin_runtime) as client:
        assert client.get("/api/plugins/web/hello/ada").text == "hello ada"
        assert client.post("/api/plugins/web/hello/ada").status_code == 405
        mounted = client.get("/api/plugins/web/files/a/b.txt")
        assert mounted.status_code == 200
        assert mounted.text.startswith("/api/plugins/web/files")
        assert mounted.text.endswith("/a/b.txt")
        paths = client.get("/openapi.json").json()["paths"]
        assert "get" in paths["/api/plugins/web/hello/{name}"]


def test_the_registry_and_the_services_import_no_starlette():
    code = (
        "import sys, altlas.registry, altlas.runtime\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'starlette'], 'starlette'\n"
        "assert 'altlas.http' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
