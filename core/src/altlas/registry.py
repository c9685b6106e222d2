"""What plugins registered: tasks, backends, sources, catalog entries, strategies,
caches, combiners, routes and facades, each with the plugin that registered it.

Registration runs plugin by plugin: a plugin whose hook raises, or registers something
malformed, is recorded as failed and none of its registrations are kept. Two plugins
registering the same id is not a plugin's own fault but a conflict the operator must
resolve, so it fails start-up with a :class:`PluginConflict` naming both distributions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from starlette.routing import BaseRoute, Mount, Route

from altlas.plugins import Plugins
from altlas_sdk import (
    Backend,
    Combiner,
    ModelSource,
    ModelSpec,
    ResponseCache,
    SelectionStrategy,
    TaskSpec,
)
from altlas_sdk.catalog import is_valid_model_id

T = TypeVar("T")

PLUGIN_ROUTE_PREFIX = "/api/plugins/"


class PluginConflict(RuntimeError):
    """Two plugins registered the same id; start-up cannot pick one for the operator."""


@dataclass(frozen=True)
class Facade:
    """An in-process entry point: a name and the factory that builds it from a runtime."""

    name: str
    factory: Callable[[Any], object]


@dataclass
class Owned(Generic[T]):
    """A registered item and the plugin that registered it."""

    item: T
    plugin: str


@dataclass
class Registry:
    """Everything registered, keyed by id."""

    tasks: dict[str, Owned[TaskSpec]] = field(default_factory=dict)
    backends: dict[str, Owned[Backend]] = field(default_factory=dict)
    sources: dict[str, Owned[ModelSource]] = field(default_factory=dict)
    catalog: dict[str, Owned[ModelSpec]] = field(default_factory=dict)
    strategies: dict[str, Owned[SelectionStrategy]] = field(default_factory=dict)
    caches: dict[str, Owned[ResponseCache]] = field(default_factory=dict)
    combiners: dict[str, Owned[Combiner]] = field(default_factory=dict)
    routes: dict[str, Owned[BaseRoute]] = field(default_factory=dict)
    facades: dict[str, Owned[Facade]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Kind:
    hook: str
    attribute: str
    expected: type
    key: Callable[[Any], str]
    describe: str
    #: Builds the registered item from the arguments of ``register(...)``.
    build: Callable[..., Any] | None = None


def _route_key(route: BaseRoute) -> str:
    if isinstance(route, Route):
        return f"{','.join(sorted(route.methods or []))} {route.path}"
    if isinstance(route, Mount):
        return f"MOUNT {route.path}"
    raise TypeError(f"expected a starlette Route or Mount, got {type(route).__name__}")


_KINDS: tuple[_Kind, ...] = (
    _Kind("register_tasks", "tasks", TaskSpec, lambda t: t.id, "task id"),
    _Kind("register_backends", "backends", Backend, lambda b: b.name, "backend"),
    _Kind("register_model_sources", "sources", ModelSource, lambda s: s.scheme, "source scheme"),
    _Kind("register_catalog_entries", "catalog", ModelSpec, lambda m: m.id, "model id"),
    _Kind(
        "register_selection_strategies",
        "strategies",
        SelectionStrategy,
        lambda s: s.name,
        "selection strategy",
    ),
    _Kind("register_caches", "caches", ResponseCache, lambda c: c.name, "cache"),
    _Kind("register_combiners", "combiners", Combiner, lambda c: c.name, "combiner"),
    _Kind("register_routes", "routes", BaseRoute, _route_key, "route"),
    _Kind("register_facades", "facades", Facade, lambda f: f.name, "facade", Facade),
)


def collect_registrations(plugins: Plugins) -> Registry:
    """Call every registration hook, plugin by plugin, and return what they registered."""
    staged = _stage(plugins)
    registry = Registry()
    for plugin_name, items in staged.items():
        for kind, item in items:
            table: dict[str, Owned[Any]] = getattr(registry, kind.attribute)
            key = kind.key(item)
            if key in table:
                first = table[key].plugin
                raise PluginConflict(
                    f"{kind.describe} '{key}' is registered by both "
                    f"{plugins.distribution_of(first)} (plugin {first}) and "
                    f"{plugins.distribution_of(plugin_name)} (plugin {plugin_name}); "
                    "uninstall one or name it in ALTLAS_DISABLE_PLUGINS"
                )
            table[key] = Owned(item, plugin_name)
    return registry


def _stage(plugins: Plugins) -> dict[str, list[tuple[_Kind, Any]]]:
    """Run the registration hooks of each plugin into its own list, dropping a plugin
    whole when any of its hooks fails."""
    staged: dict[str, list[tuple[_Kind, Any]]] = {}
    for name in list(plugins.records):
        items: list[tuple[_Kind, Any]] = []
        try:
            for kind in _KINDS:
                for impl in getattr(plugins.pm.hook, kind.hook).get_hookimpls():
                    if impl.plugin_name != name:
                        continue
                    collected: list[Any] = []
                    impl.function(**_arguments(impl.argnames, _collector(kind, collected)))
                    for item in collected:
                        _check(kind, item, name)
                        items.append((kind, item))
        except Exception as error:
            record = plugins.records[name]
            if record.builtin:
                raise
            plugins.fail(name, record.distribution, error)
            continue
        staged[name] = items
    return staged


def _collector(kind: _Kind, collected: list[Any]) -> Callable[..., None]:
    build = kind.build
    if build is None:
        return collected.append
    return lambda *args: collected.append(build(*args))


def _arguments(argnames: tuple[str, ...], register: Callable[[Any], None]) -> dict[str, Any]:
    return {"register": register} if "register" in argnames else {}


def _check(kind: _Kind, item: Any, plugin: str) -> None:
    if not isinstance(item, kind.expected):
        raise TypeError(f"{kind.hook} got {type(item).__name__}, expected {kind.expected.__name__}")
    if kind.attribute == "routes":
        path = getattr(item, "path", "")
        own = f"{PLUGIN_ROUTE_PREFIX}{plugin}/"
        if not path.startswith(own):
            raise ValueError(f"route '{path}' is outside {own}; other paths are not this plugin's")
    if kind.attribute == "catalog" and not is_valid_model_id(item.id):
        raise ValueError(f"invalid model id {item.id!r}: use letters, digits, '.', '_', '-'")
