"""The model manager: list, describe, load and unload models, within a memory budget.

Loads and unloads run in the executor. Concurrent loads of one model share a single
load; inference on a model that is not loaded loads it on demand (``LOAD_ON_DEMAND``).

Memory is managed the way an operator would by hand:

- each model is charged what it was measured to take after loading (RSS / GPU deltas),
  or its backend's estimate before that; a load must fit ``RAM_MEMORY_LIMIT`` (and
  ``GPU_MEMORY_LIMIT`` when set) together with every loaded model;
- when it does not fit, idle models are evicted least recently used first; a model
  with requests in flight or queued, or a pinned one, is never evicted;
- a model loaded less than ``MIN_RESIDENCY`` seconds ago is not evicted either: the
  load waits (up to ``QUEUE_TIMEOUT``) instead, so that models taking turns over a
  budget too small for all of them do not push each other out on every request;
- idle models unload after their ``keep_alive``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from altlas.catalog import Catalog, CatalogEntry
from altlas.config import Settings
from altlas.executor import Executor
from altlas.memory import measure_load, release_freed_memory
from altlas.model_files import ModelFilesResolver
from altlas.registry import Registry
from altlas_sdk import DevicePolicy, LoadedModel, MemoryEstimate
from altlas_sdk.errors import (
    AltlasError,
    BackendUnavailable,
    InsufficientMemory,
    InternalError,
    ModelNotLoaded,
    Overloaded,
    WeightsMissing,
)
from altlas_sdk.wire import MemoryInfo, ModelInfo, ModelStatus

logger = logging.getLogger(__name__)


@dataclass
class _Slot:
    """The live state of one catalog entry."""

    state: str = "available"
    detail: str | None = None
    model: LoadedModel | None = None
    version: str | None = None
    loaded_at: float | None = None
    last_used_at: float | None = None
    estimated: MemoryEstimate | None = None
    measured: MemoryEstimate | None = None
    #: What the previous load measured; kept across unloads to size the next load.
    last_measured: MemoryEstimate | None = None
    load: asyncio.Future[LoadedModel] | None = field(default=None, repr=False)
    pinned: bool = False
    #: Its memory is counted: set when a load has been granted room, until unloaded.
    reserved: bool = False
    in_flight: int = 0
    expires_at: float | None = None
    #: Monotonic time of the last completed load (for ``MIN_RESIDENCY``).
    resident_since: float = 0.0
    #: Milliseconds the last completed load took; kept across unloads, so that
    #: selection can weigh what loading the model again would cost.
    last_load_ms: float | None = None

    #: The operator's ``memory_mb``, in bytes: overrides estimate and measurement.
    declared_bytes: int | None = None

    def charge(self) -> MemoryEstimate:
        """What this model counts against the budgets: declared, else measured, else
        estimated."""
        if not self.reserved:
            return MemoryEstimate()
        if self.declared_bytes is not None:
            gpu = self.measured.gpu_bytes if self.measured else 0
            return MemoryEstimate(ram_bytes=self.declared_bytes, gpu_bytes=gpu)
        measured, estimated = self.measured, self.estimated
        ram = measured.ram_bytes if measured and measured.ram_bytes else 0
        gpu = measured.gpu_bytes if measured and measured.gpu_bytes else 0
        if estimated is not None:
            ram = ram or estimated.ram_bytes
            gpu = gpu or estimated.gpu_bytes
        return MemoryEstimate(ram_bytes=ram, gpu_bytes=gpu)


@dataclass(frozen=True)
class Holding:
    """What one loaded (or loading) model holds, for monitoring."""

    model_id: str
    state: str
    device: str | None
    ram_bytes: int
    gpu_bytes: int
    in_flight: int
    pinned: bool


class ModelManager:
    """Tracks every catalog entry's state and the loaded models."""

    def __init__(
        self,
        catalog: Catalog,
        registry: Registry,
        resolver: ModelFilesResolver,
        executor: Executor,
        settings: Settings,
    ) -> None:
        self.catalog = catalog
        self.registry = registry
        self.resolver = resolver
        self.executor = executor
        self.settings = settings
        self.policy = DevicePolicy(settings.use_gpu, settings.gpu_memory_limit)
        self._slots = {
            entry.spec.id: _Slot(
                pinned=entry.spec.pin,
                declared_bytes=entry.spec.memory_mb * 1024 * 1024 if entry.spec.memory_mb else None,
            )
            for entry in catalog
        }
        # Budget decisions (check, evict, reserve) are made one load at a time.
        self._room = asyncio.Lock()
        self._reaper: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # Set (and replaced) whenever a model becomes idle or leaves memory, so that a
        # load waiting for room looks again at once instead of polling.
        self._changed = asyncio.Event()
        #: Loads, unloads by reason ("evicted", "idle", "requested") and failed loads.
        self.counts: Counter[tuple[str, str]] = Counter()

    # --- reading -----------------------------------------------------------------

    def status(self, model_id: str) -> ModelStatus:
        """The model's current state; raises ``ModelNotFound`` for an unknown id."""
        entry = self.catalog.get(model_id)
        slot = self._slots[model_id]
        state, detail = slot.state, slot.detail
        if state == "available":
            problem = self._unavailable_reason(entry)
            if problem is not None:
                state, detail = problem
        return ModelStatus(
            model_id=model_id,
            state=state,  # type: ignore[arg-type]
            detail=detail,
            device=str(slot.model.device) if slot.model is not None else None,
            version=slot.version,
            loaded_at=slot.loaded_at,
            last_used_at=slot.last_used_at,
            memory_estimated=_memory_info(slot.estimated),
            memory_measured=_memory_info(slot.measured),
            pinned=slot.pinned,
            in_flight=slot.in_flight,
            expires_at=slot.expires_at if slot.model is not None else None,
        )

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

    def version_of(self, model_id: str) -> str:
        """The loaded model's version (its files' fingerprint unless it names one)."""
        return self._slots[model_id].version or ""

    def holdings(self) -> list[Holding]:
        """Every loaded or loading model and what it holds."""
        held = []
        for model_id, slot in self._slots.items():
            if slot.model is None and slot.load is None:
                continue
            charge = slot.charge()
            held.append(
                Holding(
                    model_id=model_id,
                    state=slot.state,
                    device=str(slot.model.device) if slot.model is not None else None,
                    ram_bytes=charge.ram_bytes,
                    gpu_bytes=charge.gpu_bytes,
                    in_flight=slot.in_flight,
                    pinned=slot.pinned,
                )
            )
        return held

    def loaded_model(self, model_id: str) -> LoadedModel | None:
        """The loaded model, or ``None``."""
        slot = self._slots.get(model_id)
        return slot.model if slot is not None else None

    def _unavailable_reason(self, entry: CatalogEntry) -> tuple[str, str] | None:
        spec = entry.spec
        # Weights first: the operator's next step for the example entries is the file.
        missing = self.resolver.missing(spec)
        if missing is not None:
            return "weights_missing", missing
        if spec.backend not in self.registry.backends:
            return "unavailable", (
                f"no installed plugin provides backend '{spec.backend}' "
                f"(pip install altlas-{spec.backend}); GET /api/plugins shows plugin errors"
            )
        unknown = [task for task in spec.tasks if task not in self.registry.tasks]
        if unknown:
            return "unavailable", f"no installed plugin registers task(s) {', '.join(unknown)}"
        return None

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
        self._schedule_expiry(model_id)
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
        try:
            yield await self.acquire(model_id)
        finally:
            slot.in_flight -= 1
            slot.last_used_at = time.time()
            self._schedule_expiry(model_id)
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
            slot.load = asyncio.ensure_future(self._load(entry, slot))
            # Every waiter may be gone when the load fails; retrieve the error anyway.
            slot.load.add_done_callback(lambda done: done.cancelled() or done.exception())
        # shield: a caller that goes away must not cancel the load others wait on.
        return await asyncio.shield(slot.load)

    async def _load(self, entry: CatalogEntry, slot: _Slot) -> LoadedModel:
        spec = entry.spec
        model: LoadedModel | None = None
        try:
            problem = self._unavailable_reason(entry)
            if problem is not None and problem[0] == "weights_missing":
                raise WeightsMissing(problem[1])
            if problem is not None:
                raise BackendUnavailable(f"model '{spec.id}' cannot load: {problem[1]}")
            backend = self.registry.backends[spec.backend].item
            slot.state, slot.detail = "loading", None
            files = await self.executor.run(self.resolver.fetch, spec)
            slot.estimated = await self.executor.run(backend.estimate_memory, spec, files)
            need = slot.estimated
            if slot.last_measured is not None and slot.last_measured.gpu_bytes > need.gpu_bytes:
                # Backends estimate from files, without knowing the device; a model
                # that took GPU memory last time will again.
                need = MemoryEstimate(
                    ram_bytes=need.ram_bytes, gpu_bytes=slot.last_measured.gpu_bytes
                )
            if slot.declared_bytes is not None:
                need = MemoryEstimate(ram_bytes=slot.declared_bytes, gpu_bytes=need.gpu_bytes)
            await self._make_room(spec.id, slot, need)
            load_started = time.perf_counter()
            model, measured = await self.executor.run(
                measure_load, lambda: backend.load(spec, files, self.policy)
            )
            slot.last_load_ms = (time.perf_counter() - load_started) * 1000
        except WeightsMissing as error:
            slot.state, slot.detail = "available", None
            raise WeightsMissing(f"model '{spec.id}' cannot load: {error.message}") from None
        except (Overloaded, InsufficientMemory):
            # Memory was short, not the model broken: it stays loadable.
            slot.state, slot.detail = "available", None
            self.counts["load_failed", spec.id] += 1
            raise
        except AltlasError as error:
            # A 4xx (e.g. an unreadable file) is the operator's to fix: the model stays
            # loadable, and its status says what the last attempt hit.
            self.counts["load_failed", spec.id] += 1
            slot.state = "error" if error.status >= 500 else "available"
            slot.detail = (
                error.message if error.status >= 500 else f"last load failed: {error.message}"
            )
            raise
        except Exception as error:
            error_id = uuid.uuid4().hex[:12]
            logger.exception("loading model %s failed (error id %s)", spec.id, error_id)
            slot.state, slot.detail = "error", f"load failed: {type(error).__name__}: {error}"
            self.counts["load_failed", spec.id] += 1
            raise InternalError(error_id) from error
        finally:
            slot.load = None
            if model is None:
                # Failed or cancelled: give back what was reserved for it.
                slot.reserved = False
        slot.model = model
        slot.measured = slot.last_measured = model.memory() or measured
        slot.version = model.version or files.fingerprint
        slot.state, slot.detail = "loaded", None
        slot.loaded_at = time.time()
        slot.resident_since = time.monotonic()
        self.counts["loaded", spec.id] += 1
        logger.info("loaded model %s on %s", spec.id, model.device)
        return model

    # --- the memory budget -------------------------------------------------------

    async def _make_room(self, model_id: str, slot: _Slot, need: MemoryEstimate) -> None:
        """Evict idle models until ``need`` fits the budgets; wait while the only
        models that could go are busy or too recently loaded; 507 when nothing that
        may be evicted would ever make it fit."""
        deadline = time.monotonic() + self.settings.queue_timeout
        while True:
            async with self._room:
                victim, wait_s = self._plan(model_id, need)
                if victim is None and wait_s == 0:
                    # Reserved under the lock: the next load's plan counts this one.
                    slot.reserved = True
                    return
                if victim is not None:
                    logger.info("evicting model %s to make room for %s", victim, model_id)
                    await self._unload(victim, reason="evicted")
                    continue
                changed = self._changed
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Overloaded(
                    f"model '{model_id}' waited {self.settings.queue_timeout:g}s for memory: "
                    f"{self._describe_holders(model_id)}",
                    retry_after=max(1.0, wait_s),
                )
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(changed.wait(), min(wait_s, remaining))

    def _plan(self, model_id: str, need: MemoryEstimate) -> tuple[str | None, float]:
        """``(model to evict, 0)``, ``(None, 0)`` when ``need`` fits, or ``(None, s)``
        to wait ``s`` seconds. Raises :class:`InsufficientMemory`."""
        ram_budget = self.settings.ram_budget_bytes()
        gpu_budget = self.settings.gpu_budget_bytes()
        others = {mid: slot for mid, slot in self._slots.items() if mid != model_id}
        used_ram = sum(slot.charge().ram_bytes for slot in others.values())
        used_gpu = sum(slot.charge().gpu_bytes for slot in others.values())
        short_ram = used_ram + need.ram_bytes - ram_budget
        short_gpu = used_gpu + need.gpu_bytes - gpu_budget if gpu_budget is not None else 0
        if short_ram <= 0 and short_gpu <= 0:
            return None, 0.0

        def frees(slot: _Slot) -> bool:
            charge = slot.charge()
            return (short_ram > 0 and charge.ram_bytes > 0) or (
                short_gpu > 0 and charge.gpu_bytes > 0
            )

        movable = {
            mid: slot
            for mid, slot in others.items()
            if slot.model is not None and not slot.pinned and frees(slot)
        }
        # Could it ever fit, once every unpinned model is gone (loads finish, requests
        # end, residency runs out)? If not, waiting is futile.
        pinned = [slot.charge() for slot in others.values() if slot.pinned]
        fixed_ram = sum(charge.ram_bytes for charge in pinned)
        fixed_gpu = sum(charge.gpu_bytes for charge in pinned)
        if fixed_ram + need.ram_bytes > ram_budget or (
            gpu_budget is not None and fixed_gpu + need.gpu_bytes > gpu_budget
        ):
            raise InsufficientMemory(
                f"model '{model_id}' needs {_mb(need.ram_bytes)} RAM"
                + (f" and {_mb(need.gpu_bytes)} GPU memory" if need.gpu_bytes else "")
                + f" but the budget is {_mb(ram_budget)} RAM (RAM_MEMORY_LIMIT)"
                + (f", {_mb(gpu_budget)} GPU (GPU_MEMORY_LIMIT)" if gpu_budget is not None else "")
                + f"; {self._describe_holders(model_id)}"
            )
        now = time.monotonic()
        residency = self.settings.min_residency
        idle = [
            (slot.last_used_at or 0.0, mid)
            for mid, slot in movable.items()
            if slot.in_flight == 0 and now - slot.resident_since >= residency
        ]
        if idle:
            return min(idle)[1], 0.0
        waits = [
            residency - (now - slot.resident_since)
            for slot in movable.values()
            if slot.in_flight == 0
        ]
        return None, max(0.01, min(waits)) if waits else 1.0

    def _describe_holders(self, model_id: str) -> str:
        held = []
        for mid, slot in self._slots.items():
            if mid == model_id or (slot.model is None and slot.load is None):
                continue
            why = []
            if slot.pinned:
                why.append("pinned")
            if slot.in_flight:
                why.append(f"{slot.in_flight} request(s) in flight")
            if slot.load is not None and slot.model is None:
                why.append("loading")
            elif time.monotonic() - slot.resident_since < self.settings.min_residency:
                why.append("loaded less than MIN_RESIDENCY ago")
            charge = slot.charge()
            text = f"{mid} {_mb(charge.ram_bytes)}"
            if charge.gpu_bytes:
                text += f" + {_mb(charge.gpu_bytes)} GPU"
            held.append(text + (f" ({', '.join(why)})" if why else " (idle)"))
        return "memory is held by " + (", ".join(held) if held else "no model")

    # --- idle unloading ----------------------------------------------------------

    def keep_alive_of(self, model_id: str) -> float:
        """Seconds ``model_id`` stays loaded when idle (``-1``: forever)."""
        keep_alive = self.catalog.get(model_id).spec.keep_alive
        return self.settings.keep_alive if keep_alive is None else keep_alive

    def _schedule_expiry(self, model_id: str) -> None:
        slot = self._slots[model_id]
        if slot.model is None or slot.pinned or slot.in_flight:
            slot.expires_at = None
            return
        keep_alive = self.keep_alive_of(model_id)
        if keep_alive < 0:
            slot.expires_at = None
            return
        slot.expires_at = time.time() + keep_alive
        if keep_alive == 0:
            # "Unload right after the request": no need to wait for the reaper.
            self._spawn(self._unload_if_expired(model_id))

    async def _unload_if_expired(self, model_id: str) -> None:
        slot = self._slots[model_id]
        expires_at = slot.expires_at
        if expires_at is None or slot.model is None or slot.in_flight or slot.pinned:
            return
        if expires_at <= time.time():
            async with self._room:
                # Re-checked under the lock: a request may have started meanwhile.
                if slot.expires_at == expires_at and not slot.in_flight and slot.model:
                    await self._unload(model_id, reason="idle")

    def _spawn(self, coroutine: object) -> None:
        task = asyncio.ensure_future(coroutine)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def reap_idle(self) -> None:
        """Unload every model whose ``keep_alive`` ran out (the reaper's one pass)."""
        for model_id in list(self._slots):
            await self._unload_if_expired(model_id)

    def start(self) -> None:
        """Start unloading idle models in the background."""
        if self._reaper is None:
            self._reaper = asyncio.ensure_future(self._reap_forever())

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            try:
                await self.reap_idle()
            except Exception:
                logger.exception("unloading idle models failed")

    async def stop(self) -> None:
        """Stop the reaper and unload every model."""
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
            self._reaper = None
        for task in list(self._tasks):
            task.cancel()
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
            changed = self._changed
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)
        await self._unload(model_id, reason="requested")
        return self.status(model_id)

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


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.0f} MB"


def _memory_info(estimate: MemoryEstimate | None) -> MemoryInfo | None:
    if estimate is None:
        return None
    return MemoryInfo(ram_bytes=estimate.ram_bytes, gpu_bytes=estimate.gpu_bytes)
