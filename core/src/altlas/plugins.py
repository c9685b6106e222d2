"""Finding, loading and registering plugins.

Built-in behaviour lives in :mod:`altlas.default_plugins`, registered through the same
plugin manager as third-party plugins, which are found through the ``altlas``
entry-point group. ``ALTLAS_LOAD_PLUGINS`` (an allow-list of plugin or distribution
names) and ``ALTLAS_DISABLE_PLUGINS`` narrow what loads. A plugin that fails to import
or to register, or whose declared ``altlas-sdk`` range excludes the installed SDK
(:mod:`altlas.compat`), is recorded with its distribution and error, and skipped: the
service keeps serving everything else.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType

import pluggy

from altlas.compat import sdk_incompatibility
from altlas.config import Settings
from altlas_sdk import PROJECT_NAME, hookspecs

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "altlas"

#: Built-in plugin modules, registered first, in this order.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "altlas.default_plugins.tasks",
    "altlas.default_plugins.sources",
    "altlas.default_plugins.selection",
    "altlas.default_plugins.combiners",
    "altlas.default_plugins.memory_cache",
    "altlas.default_plugins.thread_host",
    "altlas.default_plugins.errors",
    "altlas.default_plugins.example_catalog",
    "altlas.default_plugins.facades",
)


@dataclass(frozen=True)
class PluginRecord:
    """A plugin the manager registered, with where it came from."""

    name: str
    distribution: str | None
    version: str | None
    builtin: bool


@dataclass(frozen=True)
class PluginFailureRecord:
    """A plugin that could not be used, and why."""

    name: str
    distribution: str | None
    error: str


class Plugins:
    """The plugin manager with the bookkeeping the core needs about each plugin."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.records: dict[str, PluginRecord] = {}
        self.failures: list[PluginFailureRecord] = []

    def register(self, plugin: object, record: PluginRecord) -> None:
        """Register one plugin object under ``record.name``."""
        self.pm.register(plugin, name=record.name)
        self.records[record.name] = record

    def fail(self, name: str, distribution: str | None, error: BaseException | str) -> None:
        """Record a plugin as failed and make sure none of its hooks run."""
        message = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        logger.error("plugin %s (%s) skipped: %s", name, distribution or "built-in", message)
        self.failures.append(PluginFailureRecord(name, distribution, message))
        plugin = self.pm.get_plugin(name)
        if plugin is not None:
            self.pm.unregister(plugin, name=name)
        self.records.pop(name, None)

    def distribution_of(self, name: str) -> str:
        """The distribution that ships plugin ``name``, for messages."""
        record = self.records.get(name)
        if record is None:
            return name
        return record.distribution or name

    def hooks_of(self, name: str) -> list[str]:
        """Names of the hooks plugin ``name`` implements."""
        plugin = self.pm.get_plugin(name)
        callers = self.pm.get_hookcallers(plugin) if plugin is not None else None
        return sorted(caller.name for caller in callers or [])


def load_plugins(settings: Settings) -> Plugins:
    """Create the plugin manager: built-ins first, then every allowed entry point."""
    plugins = Plugins()
    for module_name in DEFAULT_PLUGINS:
        module = importlib.import_module(module_name)
        plugins.register(module, PluginRecord(module_name, "altlas-core", _core_version(), True))
    for entry_point in _entry_points():
        if not _is_allowed(entry_point, settings):
            continue
        _load_entry_point(plugins, entry_point)
    plugins.pm.check_pending()
    return plugins


def _entry_points() -> list[EntryPoint]:
    # Sorted so that plugin order, and so registration order, is stable across runs.
    return sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)


def _is_allowed(entry_point: EntryPoint, settings: Settings) -> bool:
    names = {entry_point.name}
    if entry_point.dist is not None:
        names.add(entry_point.dist.name)
    if settings.load_plugins is not None and not names & set(settings.load_plugins):
        return False
    return not names & set(settings.disable_plugins)


def _load_entry_point(plugins: Plugins, entry_point: EntryPoint) -> None:
    distribution = entry_point.dist.name if entry_point.dist is not None else None
    version = entry_point.dist.version if entry_point.dist is not None else None
    if plugins.pm.get_plugin(entry_point.name) is not None:
        other = plugins.distribution_of(entry_point.name)
        plugins.fail(
            entry_point.name,
            distribution,
            f"plugin name '{entry_point.name}' is already used by {other}",
        )
        return
    # Checked before importing: code written for another SDK may not even import.
    incompatible = sdk_incompatibility(entry_point.dist) if entry_point.dist else None
    if incompatible is not None:
        plugins.fail(entry_point.name, distribution, incompatible)
        return
    try:
        plugin: ModuleType | object = entry_point.load()
    except Exception as error:  # noqa: BLE001 - any import failure is reported, not fatal
        plugins.fail(entry_point.name, distribution, error)
        return
    try:
        plugins.register(plugin, PluginRecord(entry_point.name, distribution, version, False))
        # Earlier plugins already passed this check, so a failure here is this plugin's
        # (e.g. it implements a hook that does not exist).
        plugins.pm.check_pending()
    except (ValueError, pluggy.PluginValidationError) as error:
        plugins.fail(entry_point.name, distribution, error)


def _core_version() -> str:
    from altlas import __version__

    return __version__
