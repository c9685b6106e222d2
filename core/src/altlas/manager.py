"""The model manager: list, describe, load and unload models, within a memory budget.

Loads and unloads run in the executor. Concurrent loads of one model share a single
load; inference on a model that is not loaded loads it on demand (``LOAD_ON_DEMAND``).
Before a load takes memory, :mod:`altlas.budget` decides whether it fits, which idle
model to evict for it, or how long to wait (up to ``QUEUE_TIMEOUT``); the manager
carries that out one load at a time. Idle models unload after their ``keep_alive``.
Models load through the model host (``MODEL_HOST``); a model whose host process died
(:class:`~altlas_sdk.errors.ModelCrashed`) is dropped, counted, and loaded again on
the next request (:mod:`altlas.crash_watch`); on hosts with several nodes, each node
has its own budget (:mod:`altlas.placement`). The budgets are carried out by
:mod:`altlas.room`, unloads by :mod:`altlas.unloading` (an explicit unload removes a
model shared by several API servers for all of them; any other lets go on this one).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator

from altlas.budget import load_need
from altlas.catalog import Catalog, CatalogEntry
from altlas.config import Settings
from altlas.crash_watch import CrashWatch
from altlas.default_plugins.thread_host import ThreadHost
from altlas.executor import Executor
from altlas.keep_alive import KeepAlive
from altlas.memory import measure_load
from altlas.model_files import ModelFilesResolver
from altlas.model_state import ModelSlot, ModelUsage, unavailable_reason
from altlas.pull.downloads import with_download
from altlas.registry import Registry
from altlas.room import Room
from altlas.unloading import REQUESTED, Unloader
from altlas_sdk import DevicePolicy, LoadedModel, ModelHost, ModelSpec
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
        self._room = Room(self._slots, settings, self.host, executor, self._spec_of, self._evict)
        # keep_alive a client asked for, per model (see request_keep_alive).
        self._requested_keep_alive: dict[str, float] = {}
        self._keep_alive = KeepAlive(
            self._slots, self.keep_alive_of, self._room.lock, self._unload_idle
        )
        #: Loads, unloads by reason ("evicted", "idle", "requested", "reloaded",
        #: "shutdown", "unloaded_elsewhere"), failed loads and crashes.
        self.counts: Counter[tuple[str, str]] = Counter()
        self._crashes = CrashWatch(
            self._slots, executor, self.counts, self._room.changed, self._ensure_loaded
        )
        self._unloader = Unloader(
            self._slots, executor, self.counts, self._room, self._crashes, catalog
        )

    # --- reading -----------------------------------------------------------------

    def status(self, model_id: str) -> ModelStatus:
        """The model's current state; raises ``ModelNotFound`` for an unknown id."""
        entry = self.catalog.get(model_id)
        self._unloader.drop_if_gone(model_id)
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
        self._unloader.drop_gone()
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
            self._release_use(model_id)

    def hold_while_running(self, model_id: str, running: asyncio.Future[object]) -> None:
        """Keep ``model_id`` in use until ``running`` ends: a backend call whose request
        went away (its client left, its orchestration timed out) still runs in its
        thread, and the model must not be evicted or unloaded under it."""
        slot = self._slots.get(model_id)
        if slot is None or running.done():
            return
        slot.in_flight += 1
        running.add_done_callback(lambda _: self._release_use(model_id))

    def _release_use(self, model_id: str) -> None:
        slot = self._slots[model_id]
        slot.in_flight -= 1
        slot.last_used_at = time.time()
        self._keep_alive.schedule(model_id)
        if not slot.in_flight:
            self._room.changed()

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
        self._unloader.drop_if_gone(model_id)
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
            need = load_need(
                slot.estimated,
                slot.last_measured,
                slot.declared_bytes,
                self._room.budget.ram_bytes,
            )
            self._unloader.drop_gone()  # what another API server unloaded holds nothing
            await self._room.make(spec.id, slot, need)
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
        await self._room.settle(spec.id, slot)
        return model

    def _spec_of(self, model_id: str) -> ModelSpec:
        return self.catalog.get(model_id).spec

    async def _evict(self, model_id: str) -> None:
        await self._unloader.unload(model_id, reason="evicted")

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

    async def unload_model(self, model_id: str, *, reason: str = REQUESTED) -> ModelStatus:
        """Unload ``model_id`` and unpin it. ``reason`` ``"requested"`` (an explicit
        unload) removes a model shared by several API servers for all of them; any
        other (``"shutdown"``) lets go of it on this server only.

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
            await self._room.wait(remaining)
        await self._unloader.unload(model_id, reason=reason)
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
        await self._unloader.retire(model_id, self.catalog if remove else None)

    async def _unload_idle(self, model_id: str) -> None:
        await self._unloader.unload(model_id, reason="idle")

    async def unload_all(self) -> None:
        """Let go of every loaded model (at shutdown: on this API server only)."""
        for model_id, slot in self._slots.items():
            if slot.model is not None or slot.load is not None:
                try:
                    await self.unload_model(model_id, reason="shutdown")
                except Exception:
                    logger.exception("unloading %s at shutdown failed", model_id)
