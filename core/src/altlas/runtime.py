"""The runtime: settings, plugins and every service, wired together once.

``Runtime.create()`` loads plugins, collects their registrations and builds the
catalog (all synchronous and quick: no model loads). ``start()`` and ``stop()`` run
the lifecycle hooks; ``stop()`` also unloads every model.
"""

from __future__ import annotations

import inspect
import logging

from altlas.catalog import Catalog, build_catalog
from altlas.config import ConfigError, Settings
from altlas.executor import Executor, ThreadExecutor
from altlas.inference.cache import CacheStep
from altlas.inference.select import ModelSelector
from altlas.inference.service import InferenceService
from altlas.manager import ModelManager
from altlas.model_files import ModelFilesResolver
from altlas.plugins import Plugins, load_plugins
from altlas.registry import Registry, collect_registrations
from altlas.scheduler import Scheduler
from altlas_sdk import SourceContext

logger = logging.getLogger(__name__)


class Runtime:
    """Everything one altlas service holds."""

    def __init__(self, settings: Settings, executor: Executor | None = None) -> None:
        self.settings = settings
        configure_logging(settings)
        self.plugins: Plugins = load_plugins(settings)
        self.registry: Registry = collect_registrations(self.plugins)
        _check_choices(settings, self.registry)
        self.resolver = ModelFilesResolver(
            {scheme: owned.item for scheme, owned in self.registry.sources.items()},
            SourceContext(model_dir=settings.model_dir, cache_dir=settings.cache_dir),
        )
        self.catalog: Catalog = build_catalog(self.registry, settings, self.resolver)
        _check_task_defaults(settings, self.catalog)
        self.executor = executor or ThreadExecutor()
        self.models = ModelManager(
            self.catalog, self.registry, self.resolver, self.executor, settings
        )
        cache = self.registry.caches.get(settings.response_cache)
        self.inference = InferenceService(
            ModelSelector(self.catalog, self.registry, self.models, settings),
            self.models,
            self.registry,
            Scheduler(self.executor),
            CacheStep(cache.item if cache else None),
        )
        self.started = False

    async def start(self) -> None:
        """Run the plugins' ``startup`` hooks."""
        for result in self.plugins.pm.hook.startup(runtime=self):
            if inspect.isawaitable(result):
                await result
        self.started = True

    async def stop(self) -> None:
        """Run ``shutdown`` hooks, unload every model, close the cache and executor."""
        for result in self.plugins.pm.hook.shutdown(runtime=self):
            if inspect.isawaitable(result):
                await result
        await self.models.unload_all()
        if self.inference.cache.cache is not None:
            await self.inference.cache.cache.close()
        self.executor.shutdown()
        self.started = False


def _check_choices(settings: Settings, registry: Registry) -> None:
    if settings.selection_strategy not in registry.strategies:
        raise ConfigError(
            f"SELECTION_STRATEGY: '{settings.selection_strategy}' is not registered; "
            f"one of {', '.join(sorted(registry.strategies))}"
        )
    if settings.response_cache and settings.response_cache not in registry.caches:
        known = ", ".join(sorted(registry.caches)) or "none installed"
        raise ConfigError(
            f"RESPONSE_CACHE: '{settings.response_cache}' is not registered ({known})"
        )


def _check_task_defaults(settings: Settings, catalog: Catalog) -> None:
    for task, model_id in settings.task_defaults.items():
        if model_id not in catalog:
            raise ConfigError(f"config file [tasks] {task} = '{model_id}': no such model")
        if task not in catalog.get(model_id).spec.tasks:
            raise ConfigError(
                f"config file [tasks] {task} = '{model_id}': that model serves "
                f"{', '.join(catalog.get(model_id).spec.tasks)}, not {task}"
            )


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(settings: Settings) -> None:
    """Apply LOG_LEVEL to altlas's loggers, and give the root logger a handler when the
    host (``altlas serve``, plain ``uvicorn altlas.main:app``) has not set one up."""
    if not logging.getLogger().handlers:
        logging.basicConfig(format=LOG_FORMAT)
    logging.getLogger("altlas").setLevel(settings.log_level_number())


_default: Runtime | None = None


def get_runtime() -> Runtime:
    """The process's default runtime, created from the environment on first use."""
    global _default
    if _default is None:
        _default = Runtime(Settings.load())
    return _default


def set_runtime(runtime: Runtime | None) -> None:
    """Replace the process's default runtime (``None`` forgets it)."""
    global _default
    _default = runtime
