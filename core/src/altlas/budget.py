"""Memory-budget planning: what a load must do before it may take its memory.

Pure functions over a snapshot of what each model holds; the model manager
(:mod:`altlas.manager`) takes the snapshot and acts on the answer. The rules are the
ones an operator would follow by hand:

- each model is charged what the operator declared (``memory_mb``), else the larger of
  what it was measured to take after loading (less the libraries its load imported:
  those are the process's) and its backend's estimate; a load must fit
  ``RAM_MEMORY_LIMIT`` (and ``GPU_MEMORY_LIMIT`` when set) together with every model
  already charged;
- when it does not fit, idle models are evicted least recently used first; a model
  with requests in flight or queued, or a pinned one, is never evicted;
- a model loaded less than ``MIN_RESIDENCY`` seconds ago is not evicted either: the
  load waits instead, so that models taking turns over a budget too small for all of
  them do not push each other out on every request;
- when the load would not fit even with every unpinned model gone, waiting is futile:
  the memory is insufficient, and the message names what holds it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from altlas_sdk import MemoryEstimate


@dataclass(frozen=True)
class Budget:
    """The limits a load must fit."""

    #: ``RAM_MEMORY_LIMIT`` in bytes.
    ram_bytes: int
    #: ``GPU_MEMORY_LIMIT`` in bytes; ``None`` when GPU memory is not limited.
    gpu_bytes: int | None
    #: ``MIN_RESIDENCY``: seconds a model stays safe from eviction after it loaded.
    min_residency: float


@dataclass(frozen=True)
class Holder:
    """One model as the planner sees it: what it is charged and what protects it."""

    model_id: str
    #: What it counts against the budgets now (nothing unless room was reserved for it).
    charge: MemoryEstimate
    #: In memory now (only a loaded model can be evicted).
    loaded: bool = False
    #: A load is in progress.
    loading: bool = False
    pinned: bool = False
    #: Requests running or queued on it.
    in_flight: int = 0
    #: When it last served a request (any clock: only the order matters).
    last_used_at: float = 0.0
    #: When its last load completed, on the clock of ``now``.
    resident_since: float = 0.0


@dataclass(frozen=True)
class Fits:
    """The load fits: reserve its memory."""


@dataclass(frozen=True)
class Evict:
    """Unload ``model_id``, then plan again."""

    model_id: str


@dataclass(frozen=True)
class Wait:
    """Nothing may be evicted yet: plan again after ``seconds`` (or sooner, when a
    model becomes idle or leaves memory)."""

    seconds: float


@dataclass(frozen=True)
class Insufficient:
    """The load can never fit the budgets; ``message`` says why and what holds memory."""

    message: str


#: What :func:`plan_room` decides.
Plan = Fits | Evict | Wait | Insufficient


def charge_of(
    declared_bytes: int | None,
    measured: MemoryEstimate | None,
    estimated: MemoryEstimate | None,
) -> MemoryEstimate:
    """What a model whose memory is reserved counts against the budgets: the declared
    RAM (with the measured GPU memory), else the larger of what was measured and the
    estimate, for RAM and GPU memory each. A measurement alone can be too low (memory
    an earlier model freed is reused without growing the process), an estimate alone
    too (the backend cannot know every buffer): the larger is the honest charge."""
    if declared_bytes is not None:
        return MemoryEstimate(
            ram_bytes=declared_bytes, gpu_bytes=measured.gpu_bytes if measured else 0
        )
    sources = [source for source in (measured, estimated) if source is not None]
    return MemoryEstimate(
        ram_bytes=max((source.ram_bytes for source in sources), default=0),
        gpu_bytes=max((source.gpu_bytes for source in sources), default=0),
    )


def load_need(
    estimated: MemoryEstimate,
    last_measured: MemoryEstimate | None,
    declared_bytes: int | None,
    budget_ram_bytes: int | None = None,
) -> MemoryEstimate:
    """The room a load asks for: the backend's estimate, or what the last load
    measured when that was more (backends estimate from files, without knowing the
    device or the buffers the library allocates: a model that took more last time
    will again), and the declared RAM when the operator declared it.

    A last measurement larger than the whole RAM budget (``budget_ram_bytes``) while
    the estimate fits it is not trusted: a load is measured by the process's RSS,
    which other loads and inferences running beside it also grow, and trusting it would
    refuse the model with 507 for good. The load asks for the estimate, and what it
    really holds is charged once it has loaded."""
    gpu, ram = estimated.gpu_bytes, estimated.ram_bytes
    if last_measured is not None:
        gpu = max(gpu, last_measured.gpu_bytes)
        noisy = budget_ram_bytes is not None and last_measured.ram_bytes > budget_ram_bytes
        if not noisy or ram > budget_ram_bytes:
            ram = max(ram, last_measured.ram_bytes)
    if declared_bytes is not None:
        ram = declared_bytes
    return MemoryEstimate(ram_bytes=ram, gpu_bytes=gpu)


def plan_room(
    model_id: str,
    need: MemoryEstimate,
    holders: Iterable[Holder],
    budget: Budget,
    now: float,
) -> Plan:
    """Decide what loading ``model_id``, which needs ``need``, must do first, given
    what every model holds (``model_id``'s own entry, if any, is left out) at time
    ``now`` (the clock of :attr:`Holder.resident_since`)."""
    others = [holder for holder in holders if holder.model_id != model_id]
    short_ram = _sum_ram(others) + need.ram_bytes - budget.ram_bytes
    short_gpu = (
        _sum_gpu(others) + need.gpu_bytes - budget.gpu_bytes if budget.gpu_bytes is not None else 0
    )
    if short_ram <= 0 and short_gpu <= 0:
        return Fits()
    # Could it ever fit, once every unpinned model is gone (loads finish, requests
    # end, residency runs out)? If not, waiting is futile.
    pinned = [holder for holder in others if holder.pinned]
    if _sum_ram(pinned) + need.ram_bytes > budget.ram_bytes or (
        budget.gpu_bytes is not None and _sum_gpu(pinned) + need.gpu_bytes > budget.gpu_bytes
    ):
        return Insufficient(_shortage(model_id, need, others, budget, now))

    def frees(holder: Holder) -> bool:
        return (short_ram > 0 and holder.charge.ram_bytes > 0) or (
            short_gpu > 0 and holder.charge.gpu_bytes > 0
        )

    idle = [
        holder
        for holder in others
        if holder.loaded and not holder.pinned and not holder.in_flight and frees(holder)
    ]
    settled = [h for h in idle if now - h.resident_since >= budget.min_residency]
    if settled:
        return Evict(min(settled, key=lambda h: (h.last_used_at, h.model_id)).model_id)
    waits = [budget.min_residency - (now - holder.resident_since) for holder in idle]
    # Nothing idle would free memory: wait for a request to end or a load to finish.
    return Wait(max(0.01, min(waits)) if waits else 1.0)


def describe_holders(
    model_id: str, holders: Iterable[Holder], min_residency: float, now: float
) -> str:
    """Who holds memory, for messages ("memory is held by a 100 MB (idle), ..."):
    every model but ``model_id`` that is loaded or loading, with what it is charged and
    why it stays (pinned, requests in flight, loading, loaded less than
    ``MIN_RESIDENCY`` ago) or "idle"."""
    held = []
    for holder in holders:
        if holder.model_id == model_id or not (holder.loaded or holder.loading):
            continue
        why = []
        if holder.pinned:
            why.append("pinned")
        if holder.in_flight:
            why.append(f"{holder.in_flight} request(s) in flight")
        if holder.loading and not holder.loaded:
            why.append("loading")
        elif now - holder.resident_since < min_residency:
            why.append("loaded less than MIN_RESIDENCY ago")
        text = f"{holder.model_id} {_mb(holder.charge.ram_bytes)}"
        if holder.charge.gpu_bytes:
            text += f" + {_mb(holder.charge.gpu_bytes)} GPU"
        held.append(text + (f" ({', '.join(why)})" if why else " (idle)"))
    return "memory is held by " + (", ".join(held) if held else "no model")


def _shortage(
    model_id: str, need: MemoryEstimate, others: list[Holder], budget: Budget, now: float
) -> str:
    gpu_budget = budget.gpu_bytes
    return (
        f"model '{model_id}' needs {_mb(need.ram_bytes)} RAM"
        + (f" and {_mb(need.gpu_bytes)} GPU memory" if need.gpu_bytes else "")
        + f" but the budget is {_mb(budget.ram_bytes)} RAM (RAM_MEMORY_LIMIT)"
        + (f", {_mb(gpu_budget)} GPU (GPU_MEMORY_LIMIT)" if gpu_budget is not None else "")
        + f"; {describe_holders(model_id, others, budget.min_residency, now)}"
    )


def _sum_ram(holders: Iterable[Holder]) -> int:
    return sum(holder.charge.ram_bytes for holder in holders)


def _sum_gpu(holders: Iterable[Holder]) -> int:
    return sum(holder.charge.gpu_bytes for holder in holders)


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.0f} MB"
