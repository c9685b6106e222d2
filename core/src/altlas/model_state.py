"""The live state of one catalog entry, as the model manager keeps it, and the views
of it that others read: its status, what it holds for monitoring, and what the
memory-budget planner sees (:mod:`altlas.budget`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import msgspec

from altlas.budget import Holder, charge_of
from altlas.crashes import CrashRecord
from altlas_sdk import LoadedModel, MemoryEstimate, ModelSpec
from altlas_sdk.wire import MemoryInfo, ModelStatus

if TYPE_CHECKING:
    from altlas.model_files import ModelFilesResolver
    from altlas.registry import Registry


class ModelUsage(msgspec.Struct, kw_only=True):
    """What one loaded (or loading) model holds (measured after its load, else
    estimated), as ``GET /api/system/resources`` reports it."""

    model_id: str
    state: str
    device: str | None
    ram_bytes: int
    gpu_bytes: int
    in_flight: int
    pinned: bool


@dataclass
class ModelSlot:
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
    #: The node its memory is planned on, where the host has several (else ``None``).
    node: str | None = None
    #: Its crashes: count, last exit reason, back-off.
    crashes: CrashRecord = field(default_factory=CrashRecord)

    @property
    def device(self) -> str | None:
        """The loaded model's device, or ``None`` when it is not in memory."""
        return str(self.model.device) if self.model is not None else None

    def charge(self) -> MemoryEstimate:
        """What this model counts against the budgets (nothing until room was reserved
        for it): declared, else measured, else estimated."""
        if not self.reserved:
            return MemoryEstimate()
        return charge_of(self.declared_bytes, self.measured, self.estimated)

    def holder(self, model_id: str) -> Holder:
        """This model as the memory-budget planner sees it."""
        return Holder(
            model_id=model_id,
            charge=self.charge(),
            loaded=self.model is not None,
            loading=self.load is not None,
            pinned=self.pinned,
            in_flight=self.in_flight,
            last_used_at=self.last_used_at or 0.0,
            resident_since=self.resident_since,
        )

    def holding(self, model_id: str) -> ModelUsage:
        """What this model holds, for monitoring."""
        charge = self.charge()
        return ModelUsage(
            model_id=model_id,
            state=self.state,
            device=self.device,
            ram_bytes=charge.ram_bytes,
            gpu_bytes=charge.gpu_bytes,
            in_flight=self.in_flight,
            pinned=self.pinned,
        )

    def status(self, model_id: str, problem: tuple[str, str] | None = None) -> ModelStatus:
        """The wire status; ``problem`` (a state and its detail) says why a model that
        is not loaded cannot load now, and stands in for "available"."""
        state, detail = self.state, self.detail
        if state == "available" and problem is not None:
            state, detail = problem
        return ModelStatus(
            model_id=model_id,
            state=state,  # type: ignore[arg-type]
            detail=detail,
            device=self.device,
            version=self.version,
            loaded_at=self.loaded_at,
            last_used_at=self.last_used_at,
            memory_estimated=_memory_info(self.estimated),
            memory_measured=_memory_info(self.measured),
            pinned=self.pinned,
            in_flight=self.in_flight,
            expires_at=self.expires_at if self.model is not None else None,
            host=self.model.host() if self.model is not None else None,
            crashes=self.crashes.count,
            last_exit=self.crashes.last_exit,
        )


def unavailable_reason(
    spec: ModelSpec, resolver: ModelFilesResolver, registry: Registry
) -> tuple[str, str] | None:
    """Why ``spec``'s model cannot load now, as a state ("weights_missing" or
    "unavailable") and what the operator can do about it; ``None`` when it can."""
    refused = resolver.refused(spec)  # a path out of MODEL_DIR/CACHE_DIR: never read
    if refused is not None:
        return "unavailable", refused
    # Weights first: the operator's next step for the example entries is the file.
    missing = resolver.missing(spec)
    if missing is not None:
        return "weights_missing", missing
    if spec.backend not in registry.backends:
        return "unavailable", (
            f"no installed plugin provides backend '{spec.backend}' "
            f"(pip install altlas-{spec.backend}); GET /api/plugins shows plugin errors"
        )
    unknown = [task for task in spec.tasks if task not in registry.tasks]
    if unknown:
        return "unavailable", f"no installed plugin registers task(s) {', '.join(unknown)}"
    return None


def _memory_info(estimate: MemoryEstimate | None) -> MemoryInfo | None:
    if estimate is None:
        return None
    return MemoryInfo(ram_bytes=estimate.ram_bytes, gpu_bytes=estimate.gpu_bytes)
