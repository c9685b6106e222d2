"""The model manager: list, describe, load and unload models, within a memory budget.

Loads and unloads run in the executor. Concurrent loads of one model share a single
load; inference on a model that is not loaded loads it on demand (``LOAD_ON_DEMAND``).
Before a load takes memory, :mod:`altlas.budget` decides whether it fits, which idle
model to evict for it, or how long to wait (up to ``QUEUE_TIMEOUT``); the manager
carries that out one load at a time. Idle models unload after their ``keep_alive``.
Models load through the model host (``MODEL_HOST``); a model whose host process died
(:class:`~altlas_sdk.errors.ModelCrashed`) is dropped, counted, and loaded again on
the next request (:mod:`altlas.crash_watch`); on hosts with several nodes, each node
has its own budget (:mod:`altlas.placement`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator

from altlas.budget import (
    Budget,
    Evict,
    Fits,
    Holder,
    Insufficient,
    describe_holders,
    load_need,
    plan_room,
)
from altlas.catalog import Catalog, CatalogEntry
from altlas.config import Settings
from altlas.crash_watch import CrashWatch
from altlas.default_plugins.thread_host import ThreadHost
from altlas.executor import Executor
from altlas.keep_alive import KeepAlive
from altlas.memory import measure_load, release_freed_memory
from altlas.model_files import ModelFilesResolver
from altlas.model_state import ModelSlot, ModelUsage, unavailable_reason
from altlas.placement import NodeBudget, node_budgets, plan_placement, wanted_node
from altlas.pull.downloads import with_download
from altlas.registry import Registry
from altlas_sdk import DevicePolicy, LoadedModel, MemoryEstimate, ModelHost, ModelSpec
from altlas_sdk.errors import (
    AltlasError,
    BackendUnavailable,
    InsufficientMemory,
    InternalError,
    ModelCrashed,
    ModelNotLoaded,
    Overloaded,
    WeightsMissing,
)
from altlas_sdk.wire import ModelInfo, ModelStatus

logger = logging.getLogger(__name__)


class ModelManager:
    """Tracks every catalog entry's state and the loaded models."""

    def __init__(
        self,
        catalog: Catalog,
        registry: Registry,
        resolver: ModelFilesResolver,
        executor: Executor,
        settings: Settings,
        host: ModelHost | None = None,
    ) -> None:
        self.catalog = catalog
        self.registry = registry
        self.resolver = resolver
        self.executor = executor
        self.settings = settings
        #: Where models load and run (``MODEL_HOST``); the runtime starts and stops it.
        self.host: ModelHost = host or ThreadHost()
        self.policy = DevicePolicy(settings.use_gpu, settings.gpu_memory_limit)
        self._slots = {
            entry.spec.id: ModelSlot(
                pinned=entry.spec.pin,
                declared_bytes=entry.spec.memory_mb * 1024 * 1024 if entry.spec.memory_mb else None,
            )
            for entry in catalog
        }
        self._budget = Budget(
            ram_bytes=settings.ram_budget_bytes(),
            gpu_bytes=settings.gpu_budget_bytes(),
            min_residency=settings.min_residency,
        )
        # Budget decisions (check, evict, reserve) are made one load at a time.
        self._room = asyncio.Lock()
        # keep_alive a client asked for, per model (see request_keep_alive).
        self._requested_keep_alive: dict[str, float] = {}
        self._keep_alive = KeepAlive(self._slots, self.keep_alive_of, self._room, self._unload_idle)
        # Set (and replaced) whenever a model becomes idle or leaves memory, so that a
        # load waiting for room looks again at once instead of polling.
        self._changed = asyncio.Event()
        #: Loads, unloads by reason ("evicted", "idle", "requested"), failed loads and
        #: crashes.
        self.counts: Counter[tuple[str, str]] = Counter()
        self._crashes = CrashWatch(
            self._slots, executor, self.counts, self._notify, self._ensure_loaded
        )

    # --- reading -----------------------------------------------------------------

    def status(self, model_id: str) -> ModelStatus:
        """The model's current state; raises ``ModelNotFound`` for an unknown id."""
        entry = self.catalog.get(model_id)
        slot = self._slots[model_id]
        if slot.state != "available":
            status = slot.status(model_id)
        else:
            problem = unavailable_reason(entry.spec, self.resolver, self.registry)
            status = slot.status(model_id, problem)
        return with_download(status, self.resolver.downloading(entry.spec))

    def info(self, model_id: str) -> ModelInfo:
        """The catalog entry and status of ``model_id``."""
        entry = self.catalog.get(model_id)
        spec = entry.spec
        return ModelInfo(
            id=spec.id,
            backend=spec.backend,
            tasks=list(spec.tasks),
            description=spec.description,
            source=spec.source,
            files=dict(spec.files),
            license=spec.license,
            default_for=list(spec.default_for),
            tags=dict(spec.tags),
            provided_by=entry.provided_by,
            status=self.status(model_id),
        )

    def list_models(self) -> list[ModelInfo]:
        """Every catalog entry with its status."""
        return [self.info(entry.spec.id) for entry in self.catalog]

    def is_loaded(self, model_id: str) -> bool:
        """Whether ``model_id`` is in memory now."""
        slot = self._slots.get(model_id)
        return slot is not None and slot.model is not None

    def last_load_ms(self, model_id: str) -> float | None:
        """Milliseconds the model's last completed load took, if it ever loaded."""
        slot = self._slots.get(model_id)
        return slot.last_load_ms if slot is not None else None

    def version_of(self, model_id: str) -> str | None:
        """The version of ``model_id``'s weights: its files' fingerprint, from the
        loaded model's files or else from its catalog entry's files on disk, so it is
        known without a load; ``None`` while its files are still to be fetched."""
        version = self._slots[model_id].version
        if version is not None:
            return version
        return self.resolver.version(self.catalog.get(model_id).spec)

    def holdings(self) -> list[ModelUsage]:
        """Every loaded or loading model and what it holds."""
        return [
            slot.holding(model_id)
            for model_id, slot in self._slots.items()
            if slot.model is not None or slot.load is not None
        ]

    def crash_counts(self) -> dict[str, int]:
        """Crashes per model since start-up, for models that crashed at least once."""
        return self._crashes.counts()

    def loaded_model(self, model_id: str) -> LoadedModel | None:
        """The loaded model, or ``None``."""
        slot = self._slots.get(model_id)
        return slot.model if slot is not None else None

    # --- loading -----------------------------------------------------------------

    async def load_model(self, model_id: str, *, pin: bool | None = None) -> ModelStatus:
        """Load ``model_id`` (or wait for the load in progress) and return its status.

        ``pin=True`` keeps it loaded: never evicted, never unloaded when idle, until
        :meth:`unload_model` or ``pin=False``.
        """
        self.catalog.get(model_id)
        slot = self._slots[model_id]
        if pin is not None:
            slot.pinned = pin
        await self._ensure_loaded(model_id)
        self._keep_alive.schedule(model_id)
        return self.status(model_id)

    @contextlib.asynccontextmanager
    async def use(self, model_id: str) -> AsyncIterator[LoadedModel]:
        """The loaded model for one request, loaded on demand when allowed.

        While the block runs (queued or inferring) the model is never evicted nor
        unloaded for being idle; its ``keep_alive`` counts from the end of the block.
        """
        self.catalog.get(model_id)
        slot = self._slots[model_id]
        slot.in_flight += 1
        slot.expires_at = None
        model: LoadedModel | None = None
        try:
            model = await self.acquire(model_id)
            yield model
        except ModelCrashed as crash:
            # Every request in flight on the dead model sees its own ModelCrashed; the
            # first one drops the model, the others find it gone.
            if model is not None:
                self._crashes.crashed(model_id, model, crash)
            raise
        finally:
            slot.in_flight -= 1
            slot.last_used_at = time.time()
            self._keep_alive.schedule(model_id)
            if not slot.in_flight:
                self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def acquire(self, model_id: str) -> LoadedModel:
        """The loaded model for an inference, loading it on demand when allowed.

        Prefer :meth:`use`, which also protects the model from eviction while the
        request runs.
        """
        self.catalog.get(model_id)
        slot = self._slots[model_id]
        if slot.model is None and slot.load is None and not self.settings.load_on_demand:
            raise ModelNotLoaded(model_id)
        model = await self._ensure_loaded(model_id)
        slot.last_used_at = time.time()
        return model

    async def _ensure_loaded(self, model_id: str) -> LoadedModel:
        entry = self.catalog.get(model_id)
        slot = self._slots[model_id]
        if slot.model is not None:
            return slot.model
        if slot.load is None:
            refusal = slot.crashes.refusal(model_id)
            if refusal is not None:
                raise refusal
            slot.load = asyncio.ensure_future(self._load(entry, slot))
            # Every waiter may be gone when the load fails; retrieve the error anyway.
            slot.load.add_done_callback(lambda done: done.cancelled() or done.exception())
        # shield: a caller that goes away must not cancel the load others wait on.
        return await asyncio.shield(slot.load)

    async def _load(self, entry: CatalogEntry, slot: ModelSlot) -> LoadedModel:
        spec = entry.spec
        model: LoadedModel | None = None
        try:
            self.resolver.refuse_unsafe(spec)  # before anything reads, fetches or writes
            problem = unavailable_reason(spec, self.resolver, self.registry)
            if problem is not None and problem[0] == "weights_missing":
                raise WeightsMissing(problem[1])
            if problem is not None:
                raise BackendUnavailable(f"model '{spec.id}' cannot load: {problem[1]}")
            backend = self.registry.backends[spec.backend].item
            slot.state, slot.detail = "loading", None
            files = await self.executor.run(self.resolver.fetch, spec)
            slot.estimated = await self.executor.run(backend.estimate_memory, spec, files)
            need = load_need(slot.estimated, slot.last_measured, slot.declared_bytes)
            await self._make_room(spec.id, slot, need)
            load_started = time.perf_counter()
            model, measured = await self.executor.run(
                measure_load,
                lambda: self.host.load(backend, spec, files, self.policy, node=slot.node),
            )
            slot.last_load_ms = (time.perf_counter() - load_started) * 1000
        except WeightsMissing as error:
            slot.state, slot.detail = "available", None
            message = self.resolver.redact(error.message)
            refusal = WeightsMissing(f"model '{spec.id}' cannot load: {message}")
            refusal.code = error.code  # a download's checksum_mismatch stays one
            raise refusal from None
        except ModelCrashed as crash:
            # The host's process died while loading: counted as a crash (back-off).
            self._crashes.record(spec.id, crash)
            raise
        except (Overloaded, InsufficientMemory):
            # Memory was short, not the model broken: it stays loadable.
            slot.state, slot.detail = "available", None
            self.counts["load_failed", spec.id] += 1
            raise
        except AltlasError as error:
            # A 4xx (e.g. an unreadable file) is the operator's to fix: the model stays
            # loadable, and its status says what the last attempt hit.
            error.message = self.resolver.redact(error.message)  # no MODEL_DIR on disk
            self.counts["load_failed", spec.id] += 1
            slot.state = "error" if error.status >= 500 else "available"
            slot.detail = (
                error.message if error.status >= 500 else f"last load failed: {error.message}"
            )
            raise
        except Exception as error:
            internal = InternalError.logged(
                logger, "loading model %s failed", spec.id, exc_info=error
            )
            detail = self.resolver.redact(f"load failed: {type(error).__name__}: {error}")
            slot.state, slot.detail = "error", detail
            self.counts["load_failed", spec.id] += 1
            raise internal from error
        finally:
            slot.load = None
            if model is None:
                # Failed or cancelled: give back what was reserved for it.
                slot.reserved = False
        slot.model = model
        slot.node = model.host().node or slot.node  # where the host really put it
        slot.measured = slot.last_measured = model.memory() or measured
        # The files' fingerprint, never a version the backend reports: the response
        # cache keys on it before any load (see ``version_of``).
        slot.version = files.fingerprint
        slot.state, slot.detail = "loaded", None
        slot.loaded_at = time.time()
        slot.resident_since = time.monotonic()
        self.counts["loaded", spec.id] += 1
        logger.info("loaded model %s on %s", spec.id, model.device)
        await self._settle(spec.id, slot)
        return model

    # --- the memory budget -------------------------------------------------------

    async def _make_room(self, model_id: str, slot: ModelSlot, need: MemoryEstimate) -> None:
        """Carry out the budget's plan until ``need`` fits, then reserve it: evict,
        or wait for a model to become idle or leave memory (up to ``QUEUE_TIMEOUT``:
        then 503); 507 when it can never fit."""
        deadline = time.monotonic() + self.settings.queue_timeout
        nodes = await self._node_budgets()
        wanted = wanted_node(self.catalog.get(model_id).spec.placement)
        while True:
            async with self._room:
                node, plan = plan_placement(
                    model_id,
                    need,
                    self._holders(),
                    {mid: other.node for mid, other in self._slots.items()},
                    nodes,
                    time.monotonic(),
                    single=self._budget,
                    wanted=wanted,
                )
                if isinstance(plan, Fits):
                    # Reserved under the lock: the next load's plan counts this one.
                    slot.reserved, slot.node = True, node
                    return
                if isinstance(plan, Insufficient):
                    raise InsufficientMemory(plan.message)
                if isinstance(plan, Evict):
                    logger.info("evicting model %s to make room for %s", plan.model_id, model_id)
                    await self._unload(plan.model_id, reason="evicted")
                    continue
                wait_s, changed = plan.seconds, self._changed
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                holders = describe_holders(
                    model_id, self._holders(), self._budget.min_residency, time.monotonic()
                )
                raise Overloaded(
                    f"model '{model_id}' waited {self.settings.queue_timeout:g}s for memory: "
                    f"{holders}",
                    retry_after=max(1.0, wait_s),
                )
            await _wait(changed, min(wait_s, remaining))

    async def _settle(self, model_id: str, slot: ModelSlot) -> None:
        """After a load that measured more than it reserved: evict idle models, least
        recently used first, until the charges fit ``RAM_MEMORY_LIMIT`` again. Nothing
        waits here (the model is in memory already); a host with several nodes planned
        the load onto its node instead."""
        if await self._node_budgets():
            return
        async with self._room:
            while True:
                plan = plan_room(
                    model_id, slot.charge(), self._holders(), self._budget, time.monotonic()
                )
                if not isinstance(plan, Evict):
                    return
                logger.info(
                    "evicting model %s: %s holds more than it asked", plan.model_id, model_id
                )
                await self._unload(plan.model_id, reason="evicted")

    def _holders(self) -> list[Holder]:
        return [slot.holder(model_id) for model_id, slot in self._slots.items()]

    async def _node_budgets(self) -> list[NodeBudget]:
        """Each node's budget where the host runs models on several nodes; none (one
        budget, no node) where it has one."""
        nodes = await self.executor.run(self.host.nodes)
        if len(nodes) < 2:
            return []
        limit_set = self.settings.ram_memory_limit is not None
        return node_budgets(nodes, self._budget, ram_limit_set=limit_set)

    # --- idle unloading ----------------------------------------------------------

    def keep_alive_of(self, model_id: str) -> float:
        """Seconds ``model_id`` stays loaded when idle (``-1``: forever): the last
        :meth:`request_keep_alive`, else the catalog entry's, else ``KEEP_ALIVE``."""
        requested = self._requested_keep_alive.get(model_id)
        if requested is not None:
            return requested
        keep_alive = self.catalog.get(model_id).spec.keep_alive
        return self.settings.keep_alive if keep_alive is None else keep_alive

    def request_keep_alive(self, model_id: str, seconds: float | None) -> None:
        """Keep ``model_id`` loaded ``seconds`` after its requests from now on (``0``:
        unload after the request, negative: forever), as a client asked (Ollama's
        ``keep_alive``); ``None`` goes back to the catalog's ``keep_alive``."""
        self.catalog.get(model_id)
        if seconds is None:
            self._requested_keep_alive.pop(model_id, None)
        else:
            self._requested_keep_alive[model_id] = seconds

    async def reap_idle(self) -> None:
        """Unload every model whose ``keep_alive`` ran out (the reaper's one pass)."""
        await self._keep_alive.reap()

    def start(self) -> None:
        """Start unloading idle models in the background."""
        self._keep_alive.start()

    async def stop(self) -> None:
        """Stop unloading idle models and reloading crashed ones; unload every model."""
        await self._keep_alive.stop()
        self._crashes.stop()
        await self.unload_all()

    async def unload_model(self, model_id: str) -> ModelStatus:
        """Unload ``model_id`` and unpin it.

        A load in progress is waited for first, and so are the requests running or
        queued on the model (up to ``QUEUE_TIMEOUT``): a backend is never torn down
        under a call it is serving unless they outlast that.
        """
        self.catalog.get(model_id)
        slot = self._slots[model_id]
        slot.pinned = False
        if slot.load is not None:
            try:
                await asyncio.shield(slot.load)
            except AltlasError:
                return self.status(model_id)
        deadline = time.monotonic() + self.settings.queue_timeout
        while slot.in_flight and slot.model is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                logger.warning(
                    "unloading model %s with %d request(s) still in flight after %gs",
                    model_id,
                    slot.in_flight,
                    self.settings.queue_timeout,
                )
                break
            await _wait(self._changed, remaining)
        await self._unload(model_id, reason="requested")
        return self.status(model_id)

    def track(self, spec: ModelSpec) -> None:
        """Take a new or changed catalog entry's ``pin`` and ``memory_mb`` (a config
        reload); a model seen before keeps its counts and measurements."""
        slot = self._slots.setdefault(spec.id, ModelSlot())
        slot.pinned = spec.pin
        slot.declared_bytes = spec.memory_mb * 1024 * 1024 if spec.memory_mb else None

    async def retire(self, model_id: str, *, remove: bool) -> None:
        """Unload ``model_id`` once no request runs or waits on it, however long they
        take (a config reload changed or removed its entry: its next use loads the new
        one). With ``remove``, it leaves the catalog at that moment: later requests get
        404, those in flight finish."""
        slot = self._slots[model_id]
        while True:
            if slot.load is not None:
                with contextlib.suppress(Exception):
                    await asyncio.shield(slot.load)
                continue
            if slot.in_flight:
                await _wait(self._changed, 1.0)
                continue
            if remove and model_id in self.catalog:
                # Nothing awaited since the check: no request can start in between.
                self.catalog.remove(model_id)
                slot.pinned = False
            async with self._room:
                if slot.in_flight or slot.load is not None:
                    continue  # a request came for the changed entry meanwhile
                await self._unload(model_id, reason="reloaded")
                return

    async def _unload_idle(self, model_id: str) -> None:
        await self._unload(model_id, reason="idle")

    async def _unload(self, model_id: str, *, reason: str) -> None:
        slot = self._slots[model_id]
        model = slot.model
        if model is None:
            return
        # Detach first: a request arriving now loads the model again rather than
        # running on one being torn down.
        slot.model = None
        slot.state = "unloading"
        try:
            await self.executor.run(model.unload)
        except ModelCrashed as crash:
            # It died before it could be unloaded: gone all the same, so an eviction
            # still makes its room; the crash is counted.
            self._crashes.record(model_id, crash)
        finally:
            slot.version = slot.loaded_at = slot.expires_at = None
            slot.measured = None
            slot.reserved = False
            slot.state, slot.detail = "available", None
            del model
            gc.collect()
            release_freed_memory()
            self._notify()
        self.counts[reason, model_id] += 1
        logger.info("unloaded model %s (%s)", model_id, reason)

    async def unload_all(self) -> None:
        """Unload every loaded model (at shutdown)."""
        for model_id, slot in self._slots.items():
            if slot.model is not None or slot.load is not None:
                try:
                    await self.unload_model(model_id)
                except Exception:
                    logger.exception("unloading %s at shutdown failed", model_id)


async def _wait(changed: asyncio.Event, seconds: float) -> None:
    """Until ``changed`` is set (a model became idle or left memory) or ``seconds`` pass."""
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(changed.wait(), seconds)
