"""The runtime: settings, plugins and every service, wired together once.

``Runtime.create()`` loads plugins, collects their registrations and builds the
catalog (all synchronous and quick: no model loads). ``start()`` and ``stop()`` run
the lifecycle hooks; ``stop()`` also unloads every model.
"""

from __future__ import annotations

import asyncio
import inspect
import logging

from altlas import logs, tracing
from altlas.catalog import Catalog, build_catalog
from altlas.config import ConfigError, Settings
from altlas.executor import Executor, ThreadExecutor
from altlas.inference.cache import CacheStep
from altlas.inference.coalesce import Coalescer
from altlas.inference.select import ModelSelector
from altlas.inference.service import InferenceService
from altlas.manager import ModelManager
from altlas.metrics import Metrics
from altlas.model_files import ModelFilesResolver
from altlas.orchestration.breaker import CircuitBreakers
from altlas.orchestration.orchestrator import ModelOrchestrator
from altlas.plugins import Plugins, load_plugins
from altlas.pull.disk import DiskBudget
from altlas.pull.downloads import Downloads
from altlas.registry import Registry, collect_registrations
from altlas.scheduler import Scheduler
from altlas_sdk import CacheContext, HostOptions, ModelHost, ResponseCache, SourceContext

logger = logging.getLogger(__name__)


class Runtime:
    """Everything one altlas service holds."""

    def __init__(self, settings: Settings, executor: Executor | None = None) -> None:
        self.settings = settings
        configure_logging(settings)
        # Spans exported over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set.
        tracing.configure()
        self.plugins: Plugins = load_plugins(settings)
        self.registry: Registry = collect_registrations(self.plugins)
        _check_choices(settings, self.registry)
        self.resolver = ModelFilesResolver(
            {scheme: owned.item for scheme, owned in self.registry.sources.items()},
            SourceContext(model_dir=settings.model_dir, cache_dir=settings.cache_dir),
            Downloads(DiskBudget(settings.cache_dir, settings.download_disk_bytes())),
        )
        self.catalog: Catalog = build_catalog(self.registry, settings, self.resolver)
        check_task_defaults(settings, self.catalog)
        self.executor = executor or ThreadExecutor()
        #: Where backends run (``MODEL_HOST``); started in :meth:`start`.
        self.host: ModelHost = self.registry.hosts[settings.model_host].item
        self.models = ModelManager(
            self.catalog, self.registry, self.resolver, self.executor, settings, self.host
        )
        cache = response_cache(settings, self.registry)
        self.metrics = Metrics()
        scheduler = Scheduler(
            self.executor,
            max_queue=settings.max_queue,
            timeout=settings.queue_timeout,
            on_abandoned=self.models.hold_while_running,
        )
        self.inference = InferenceService(
            ModelSelector(self.catalog, self.registry, self.models, settings),
            self.models,
            self.registry,
            scheduler,
            CacheStep(cache, self.metrics),
            self.metrics,
            Coalescer(
                scheduler,
                self.registry,
                max_batch_size=settings.max_batch_size,
                max_wait_ms=settings.batch_max_wait_ms,
                max_batch_pixels=settings.max_batch_pixels,
                metrics=self.metrics,
            ),
        )
        self.breakers = CircuitBreakers(settings.breaker_failures, settings.breaker_cooldown)
        self.inference.selector.breakers = self.breakers
        self.orchestrator = ModelOrchestrator(self.inference, self.breakers, settings)
        self.started = False
        #: Set while shutting down: readiness fails, new work is refused.
        self.stopping = False
        self._preload: asyncio.Task[None] | None = None
        self._facades: dict[str, object] = {}

    def facade(self, name: str) -> object:
        """The in-process entry point registered as ``name``, built on first use."""
        built = self._facades.get(name)
        if built is None:
            owned = self.registry.facades.get(name)
            if owned is None:
                known = ", ".join(sorted(self.registry.facades)) or "none"
                raise LookupError(
                    f"no installed plugin provides '{name}' (installed facades: {known})"
                )
            built = self._facades[name] = owned.item.factory(self)
        return built

    async def start(self) -> None:
        """Start the model host, run the plugins' ``startup`` hooks, start unloading idle
        models, and start loading the pinned models in the background (``/readyz``
        waits for them)."""
        await self.executor.run(self.host.start, host_options(self.settings))
        for result in self.plugins.pm.hook.startup(runtime=self):
            if inspect.isawaitable(result):
                await result
        self.models.start()
        self.metrics.start(self)
        pinned = [entry.spec.id for entry in self.catalog if entry.spec.pin]
        if pinned:
            self._preload = asyncio.ensure_future(self._load_pinned(pinned))
        self.stopping = False
        self.started = True

    async def _load_pinned(self, model_ids: list[str]) -> None:
        for model_id in model_ids:
            try:
                await self.models.load_model(model_id, pin=True)
            except Exception:
                logger.exception("loading pinned model %s failed", model_id)

    async def stop(self) -> None:
        """Run ``shutdown`` hooks, unload every model, close the cache and executor."""
        self.stopping = True
        if self._preload is not None:
            self._preload.cancel()
        for result in self.plugins.pm.hook.shutdown(runtime=self):
            if inspect.isawaitable(result):
                await result
        await self.models.stop()
        try:
            await self.executor.run(self.host.stop)
        except Exception:
            logger.exception("stopping model host %s failed", self.host.name)
        if self.inference.cache.cache is not None:
            await self.inference.cache.cache.close()
        self.executor.shutdown()
        self.metrics.stop()
        self.started = False


def _check_choices(settings: Settings, registry: Registry) -> None:
    if settings.selection_strategy not in registry.strategies:
        raise ConfigError(
            f"SELECTION_STRATEGY: '{settings.selection_strategy}' is not registered; "
            f"one of {', '.join(sorted(registry.strategies))}"
        )
    if settings.response_cache not in CACHE_OFF and settings.response_cache not in registry.caches:
        known = ", ".join(sorted(registry.caches)) or "none installed"
        raise ConfigError(
            f"RESPONSE_CACHE: '{settings.response_cache}' is not registered ({known})"
        )
    if settings.model_host not in registry.hosts:
        known = ", ".join(sorted(registry.hosts))
        raise ConfigError(
            f"MODEL_HOST: '{settings.model_host}' is not registered (installed hosts: "
            f"{known}; e.g. pip install altlas-{settings.model_host or 'ray'})"
        )


def host_options(settings: Settings) -> HostOptions:
    """What the model host needs from the settings: each node's memory budget, the
    operator's folders, whether models may use a GPU."""
    return HostOptions(
        ram_limit_bytes=settings.ram_budget_bytes(),
        gpu_limit_bytes=settings.gpu_budget_bytes(),
        model_dir=str(settings.model_dir),
        cache_dir=str(settings.cache_dir),
        use_gpu=settings.use_gpu,
    )


#: ``RESPONSE_CACHE`` values that turn the response cache off.
CACHE_OFF = ("", "none")


def response_cache(settings: Settings, registry: Registry) -> ResponseCache | None:
    """The cache ``RESPONSE_CACHE`` names, configured from the settings; ``None`` when
    caching is off."""
    if settings.response_cache in CACHE_OFF:
        return None
    cache = registry.caches[settings.response_cache].item
    cache.configure(
        CacheContext(
            cache_dir=settings.cache_dir,
            size_limit_mb=settings.cache_size_limit,
            memory_mb=settings.response_cache_memory_mb,
            ttl=settings.response_cache_ttl,
        )
    )
    return cache


def check_task_defaults(settings: Settings, catalog: Catalog) -> None:
    """Raise :class:`ConfigError` for a ``[tasks]`` default naming no model, or a model
    that does not serve the task."""
    for task, model_id in settings.task_defaults.items():
        if model_id not in catalog:
            raise ConfigError(f"config file [tasks] {task} = '{model_id}': no such model")
        if task not in catalog.get(model_id).spec.tasks:
            raise ConfigError(
                f"config file [tasks] {task} = '{model_id}': that model serves "
                f"{', '.join(catalog.get(model_id).spec.tasks)}, not {task}"
            )


def configure_logging(settings: Settings) -> None:
    """Apply LOG_LEVEL to altlas's loggers, and give the root logger a handler writing
    LOG_FORMAT lines when the host (``altlas serve``, plain ``uvicorn altlas.main:app``)
    has not set one up."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logs.handler(settings.log_format))
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
