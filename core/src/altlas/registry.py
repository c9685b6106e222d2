"""What plugins registered: tasks, backends, sources, catalog entries, strategies,
caches, combiners, model hosts, routes and facades, each with the plugin that registered it.

Each registration hook is called once, in pluggy's call order (``tryfirst``, then the
plugin loaded last back to the first, then ``trylast``; ``wrapper=True`` implementations
around the rest). Every implementation gets a ``register`` of its own, so the core knows
which plugin registered each item. A plugin whose implementation raises, or registers
something malformed, is recorded as failed and none of its registrations are kept. Two
plugins registering the same id is not a plugin's own fault but a conflict the operator
must resolve, so it fails start-up with a :class:`PluginConflict` naming both.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import pluggy

from altlas.plugins import Plugins
from altlas_sdk import (
    Backend,
    Combiner,
    ModelHost,
    ModelSource,
    ModelSpec,
    PluginMount,
    PluginRoute,
    ResponseCache,
    SelectionStrategy,
    TaskSpec,
)
from altlas_sdk.catalog import is_valid_model_id
from altlas_sdk.hookspecs import FacadeFactory
from altlas_sdk.routes import CONSOLE_PATH, PLUGIN_ROUTE_PREFIX

T = TypeVar("T")

__all__ = [
    "PLUGIN_ROUTE_PREFIX",
    "Facade",
    "Owned",
    "PluginConflict",
    "Registry",
    "collect_registrations",
]


class PluginConflict(RuntimeError):
    """Two plugins registered the same id; start-up cannot pick one for the operator."""


@dataclass(frozen=True)
class Facade:
    """An in-process entry point: a name and the factory that builds it from a runtime."""

    name: str
    factory: FacadeFactory


@dataclass
class Owned(Generic[T]):
    """A registered item and the plugin that registered it."""

    item: T
    plugin: str


@dataclass
class Registry:
    """Everything registered, keyed by id, in registration order."""

    tasks: dict[str, Owned[TaskSpec]] = field(default_factory=dict)
    backends: dict[str, Owned[Backend]] = field(default_factory=dict)
    sources: dict[str, Owned[ModelSource]] = field(default_factory=dict)
    catalog: dict[str, Owned[ModelSpec]] = field(default_factory=dict)
    strategies: dict[str, Owned[SelectionStrategy]] = field(default_factory=dict)
    caches: dict[str, Owned[ResponseCache]] = field(default_factory=dict)
    combiners: dict[str, Owned[Combiner]] = field(default_factory=dict)
    hosts: dict[str, Owned[ModelHost]] = field(default_factory=dict)
    routes: dict[str, Owned[PluginRoute | PluginMount]] = field(default_factory=dict)
    facades: dict[str, Owned[Facade]] = field(default_factory=dict)

    def concurrency(self, spec: ModelSpec) -> int:
        """How many calls ``spec``'s model runs at once: the entry's ``max_concurrency``,
        else its backend's (1 when the backend is not installed), times its
        ``replicas`` (each replica runs that many; the ``thread`` host refuses more
        than one replica, so there it is always one)."""
        owned = self.backends.get(spec.backend)
        per_replica = spec.max_concurrency or (owned.item.max_concurrency if owned else 1)
        return per_replica * spec.replicas

    def batches_natively(self, spec: ModelSpec) -> bool:
        """Whether ``spec``'s backend runs several inputs in one call."""
        owned = self.backends.get(spec.backend)
        return owned is not None and owned.item.native_batching


@dataclass(frozen=True)
class _Kind:
    hook: str
    attribute: str
    expected: type | tuple[type, ...]
    key: Callable[[Any], str]
    describe: str
    #: Builds the registered item from the arguments of ``register(...)``.
    build: Callable[..., Any] | None = None


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
    _Kind("register_model_hosts", "hosts", ModelHost, lambda h: h.name, "model host"),
    _Kind("register_routes", "routes", (PluginRoute, PluginMount), lambda r: r.key, "route"),
    _Kind("register_facades", "facades", Facade, lambda f: f.name, "facade", Facade),
)


def collect_registrations(plugins: Plugins) -> Registry:
    """Call every registration hook once and return what the plugins registered."""
    registered: list[tuple[_Kind, str, Any]] = []
    failed: set[str] = set()
    for kind in _KINDS:
        items, failures = _call(getattr(plugins.pm.hook, kind.hook), kind)
        registered.extend((kind, plugin, item) for plugin, item in items)
        for name, error in failures.items():
            _fail(plugins, name, error)
            failed.add(name)
    registry = Registry()
    for kind, plugin, item in registered:
        if plugin not in failed:
            _add(registry, plugins, kind, plugin, item)
    return registry


def _add(registry: Registry, plugins: Plugins, kind: _Kind, plugin: str, item: Any) -> None:
    table: dict[str, Owned[Any]] = getattr(registry, kind.attribute)
    key = kind.key(item)
    if key in table:
        first = table[key].plugin
        raise PluginConflict(
            f"{kind.describe} '{key}' is registered by both "
            f"{plugins.distribution_of(first)} (plugin {first}) and "
            f"{plugins.distribution_of(plugin)} (plugin {plugin}); "
            "uninstall one or name it in ALTLAS_DISABLE_PLUGINS"
        )
    table[key] = Owned(item, plugin)


def _fail(plugins: Plugins, name: str, error: Exception) -> None:
    """Drop a failed plugin, so that no later hook calls it; a built-in's failure is the
    core's own bug and stops start-up."""
    record = plugins.records[name]
    if record.builtin:
        raise error
    plugins.fail(name, record.distribution, error)


def _call(
    caller: pluggy.HookCaller, kind: _Kind
) -> tuple[list[tuple[str, Any]], dict[str, Exception]]:
    """Run one registration hook in pluggy's call order: wrappers up to their ``yield``
    (outermost first), the other implementations, then the rest of each wrapper
    (innermost first). Returns the checked items in registration order, each with its
    plugin, and the plugins that failed."""
    run = _HookRun(kind)
    # pluggy keeps wrappers after the other implementations and calls the list backwards.
    impls = list(reversed(caller.get_hookimpls()))
    wrappers = [impl for impl in impls if impl.wrapper or impl.hookwrapper]
    opened = [(impl, gen) for impl in wrappers if (gen := run.open_wrapper(impl)) is not None]
    for impl in impls:
        if impl not in wrappers:
            run.call(impl)
    for impl, generator in reversed(opened):
        run.close_wrapper(impl, generator)
    return run.checked()


class _HookRun:
    """One call of a registration hook: what each plugin registered, and who failed."""

    def __init__(self, kind: _Kind) -> None:
        self.kind = kind
        self.items: list[tuple[str, Any]] = []
        self.failures: dict[str, Exception] = {}

    def call(self, impl: pluggy.HookImpl) -> None:
        with self._guard(impl):
            impl.function(**self._arguments(impl))

    def open_wrapper(self, impl: pluggy.HookImpl) -> Generator[None, Any, None] | None:
        """Run a wrapper up to its ``yield``; ``None`` when it failed."""
        with self._guard(impl):
            generator = impl.function(**self._arguments(impl))
            try:
                next(generator)
            except StopIteration:
                raise RuntimeError(f"wrapper {impl.function.__name__} did not yield") from None
            return generator
        return None

    def close_wrapper(self, impl: pluggy.HookImpl, generator: Generator[None, Any, None]) -> None:
        """Resume a wrapper after the others ran. Registration hooks return nothing: a
        new-style wrapper gets ``None``, an old-style one a ``pluggy.Result`` of ``None``."""
        with self._guard(impl):
            try:
                generator.send(pluggy.Result(None, None) if impl.hookwrapper else None)
            except StopIteration:
                return
            generator.close()
            raise RuntimeError(f"wrapper {impl.function.__name__} yielded more than once")

    def checked(self) -> tuple[list[tuple[str, Any]], dict[str, Exception]]:
        """The items of the plugins that did not fail, each checked."""
        for plugin, item in self.items:
            if plugin not in self.failures:
                try:
                    _check(self.kind, item, plugin)
                except (TypeError, ValueError) as error:
                    self.failures[plugin] = error
        kept = [(plugin, item) for plugin, item in self.items if plugin not in self.failures]
        return kept, self.failures

    @contextlib.contextmanager
    def _guard(self, impl: pluggy.HookImpl) -> Iterator[None]:
        # A plugin's failure is its own: recorded, and the other plugins carry on.
        try:
            yield
        except Exception as error:  # noqa: BLE001 - reported with the plugin's name
            self.failures.setdefault(impl.plugin_name, error)

    def _arguments(self, impl: pluggy.HookImpl) -> dict[str, Any]:
        if "register" not in impl.argnames:
            return {}
        plugin, items, build = impl.plugin_name, self.items, self.kind.build
        if build is None:

            def register(item: Any) -> None:
                items.append((plugin, item))

            return {"register": register}

        def register_built(*args: Any) -> None:
            items.append((plugin, build(*args)))

        return {"register": register_built}


def _check(kind: _Kind, item: Any, plugin: str) -> None:
    if not isinstance(item, kind.expected):
        expected = kind.expected if isinstance(kind.expected, tuple) else (kind.expected,)
        names = " or ".join(t.__name__ for t in expected)
        raise TypeError(f"{kind.hook} got {type(item).__name__}, expected {names}")
    if kind.attribute == "routes":
        own = f"{PLUGIN_ROUTE_PREFIX}{plugin}/"
        console = isinstance(item, PluginMount) and item.path == CONSOLE_PATH
        if not item.path.startswith(own) and not console:
            raise ValueError(
                f"route '{item.path}' is outside {own}; other paths are not this plugin's"
            )
    if kind.attribute == "catalog" and not is_valid_model_id(item.id):
        raise ValueError(f"invalid model id {item.id!r}: use letters, digits, '.', '_', '-'")
