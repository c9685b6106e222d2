"""The model manager: list, describe, load and unload models.

Loads and unloads run in the executor. Concurrent loads of one model share a single
load; inference on a model that is not loaded loads it on demand (``LOAD_ON_DEMAND``).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
import uuid
from dataclasses import dataclass, field

from altlas.catalog import Catalog, CatalogEntry
from altlas.config import Settings
from altlas.executor import Executor
from altlas.memory import measure_load
from altlas.model_files import ModelFilesResolver
from altlas.registry import Registry
from altlas_sdk import DevicePolicy, LoadedModel, MemoryEstimate
from altlas_sdk.errors import (
    AltlasError,
    BackendUnavailable,
    InternalError,
    ModelNotLoaded,
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
    load: asyncio.Future[LoadedModel] | None = field(default=None, repr=False)


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
        self._slots = {entry.spec.id: _Slot() for entry in catalog}

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

    def version_of(self, model_id: str) -> str:
        """The loaded model's version (its files' fingerprint unless it names one)."""
        return self._slots[model_id].version or ""

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

    async def load_model(self, model_id: str) -> ModelStatus:
        """Load ``model_id`` (or wait for the load in progress) and return its status."""
        await self._ensure_loaded(model_id)
        return self.status(model_id)

    async def acquire(self, model_id: str) -> LoadedModel:
        """The loaded model for an inference, loading it on demand when allowed."""
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
            model, measured = await self.executor.run(
                measure_load, lambda: backend.load(spec, files, self.policy)
            )
        except WeightsMissing as error:
            slot.state, slot.detail = "available", None
            raise WeightsMissing(f"model '{spec.id}' cannot load: {error.message}") from None
        except AltlasError as error:
            # A 4xx (e.g. an unreadable file) is the operator's to fix: the model stays
            # loadable, and its status says what the last attempt hit.
            slot.state = "error" if error.status >= 500 else "available"
            slot.detail = (
                error.message if error.status >= 500 else f"last load failed: {error.message}"
            )
            raise
        except Exception as error:
            error_id = uuid.uuid4().hex[:12]
            logger.exception("loading model %s failed (error id %s)", spec.id, error_id)
            slot.state, slot.detail = "error", f"load failed: {type(error).__name__}: {error}"
            raise InternalError(error_id) from error
        finally:
            slot.load = None
        slot.model = model
        slot.measured = model.memory() or measured
        slot.version = model.version or files.fingerprint
        slot.state, slot.detail = "loaded", None
        slot.loaded_at = time.time()
        logger.info("loaded model %s on %s", spec.id, model.device)
        return model

    async def unload_model(self, model_id: str) -> ModelStatus:
        """Unload ``model_id`` (waiting for a load in progress first)."""
        self.catalog.get(model_id)
        slot = self._slots[model_id]
        if slot.load is not None:
            try:
                await asyncio.shield(slot.load)
            except AltlasError:
                return self.status(model_id)
        model = slot.model
        if model is None:
            return self.status(model_id)
        slot.state = "unloading"
        try:
            await self.executor.run(model.unload)
        finally:
            slot.model = None
            slot.version = slot.loaded_at = None
            slot.measured = None
            slot.state, slot.detail = "available", None
            del model
            gc.collect()
        logger.info("unloaded model %s", model_id)
        return self.status(model_id)

    async def unload_all(self) -> None:
        """Unload every loaded model (at shutdown)."""
        for model_id, slot in self._slots.items():
            if slot.model is not None or slot.load is not None:
                try:
                    await self.unload_model(model_id)
                except Exception:
                    logger.exception("unloading %s at shutdown failed", model_id)


def _memory_info(estimate: MemoryEstimate | None) -> MemoryInfo | None:
    if estimate is None:
        return None
    return MemoryInfo(ram_bytes=estimate.ram_bytes, gpu_bytes=estimate.gpu_bytes)
