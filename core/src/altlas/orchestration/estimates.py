"""What a candidate model is expected to cost: latency, accuracy, cost.

Measurements win over catalog priors. Catalog ``tags`` conventions (all optional):
``latency_ms`` (milliseconds per call), ``load_ms`` (milliseconds to load),
``accuracy`` (a score, higher is better; ``accuracy_source`` says where it comes
from), ``cost`` (relative cost per call), ``price_per_call``, ``size_mb``,
``languages`` (language codes), ``labels`` (labels the model can output).
"""

from __future__ import annotations

from dataclasses import dataclass

from altlas_sdk import Candidate

#: Assumed for a model with neither measurements nor a prior: slow enough that any
#: model with evidence of being fast wins, without excluding the unknown one.
UNKNOWN_LATENCY_MS = 1000.0
UNKNOWN_LOAD_MS = 1000.0


@dataclass(frozen=True)
class Estimate:
    """A number, where it came from (for the response's explanation), and whether it
    rests on a measurement or a tag rather than an assumption."""

    value: float
    source: str
    known: bool = True


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def call_latency(candidate: Candidate) -> Estimate:
    """Milliseconds per call: measured, else the ``latency_ms`` tag, else unknown."""
    stats = candidate.stats
    if stats.latency_ms is not None and stats.requests > 0:
        return Estimate(stats.latency_ms, f"measured over {stats.requests} call(s)")
    prior = _number(candidate.spec.tags.get("latency_ms"))
    if prior is not None:
        return Estimate(prior, "catalog latency_ms")
    return Estimate(UNKNOWN_LATENCY_MS, "unknown, assumed", known=False)


def load_latency(candidate: Candidate) -> Estimate:
    """Milliseconds before the model can serve: 0 when loaded, else its last measured
    load, else the ``load_ms`` tag, else unknown."""
    if candidate.loaded:
        return Estimate(0.0, "loaded")
    if candidate.stats.load_ms is not None:
        return Estimate(candidate.stats.load_ms, "last load measured")
    prior = _number(candidate.spec.tags.get("load_ms"))
    if prior is not None:
        return Estimate(prior, "catalog load_ms")
    return Estimate(UNKNOWN_LOAD_MS, "load time unknown, assumed")


def queue_wait(candidate: Candidate, call_ms: float) -> float:
    """Milliseconds a new call would wait for a slot: the calls ahead of it (waiting,
    and running beyond the free slots) shared over the model's slots."""
    stats = candidate.stats
    ahead = stats.queued + stats.running - (stats.slots - 1)
    return max(0, ahead) * call_ms / max(1, stats.slots)


def expected_latency(candidate: Candidate) -> Estimate:
    """Milliseconds until the answer: load (if needed), the wait for a slot behind the
    calls already there, and one call."""
    call = call_latency(candidate)
    load = load_latency(candidate)
    wait = queue_wait(candidate, call.value)
    parts = [f"{call.value:.1f} ms per call ({call.source})"]
    if wait:
        stats = candidate.stats
        parts.append(f"{wait:.0f} ms behind {stats.running} running, {stats.queued} queued")
    parts.append(f"{load.value:.0f} ms to load ({load.source})" if load.value else "loaded")
    return Estimate(call.value + wait + load.value, " + ".join(parts[:-1]) + ", " + parts[-1])


def accuracy(candidate: Candidate) -> Estimate | None:
    """The ``accuracy`` tag (``None`` when the model has none)."""
    value = _number(candidate.spec.tags.get("accuracy"))
    if value is None:
        return None
    source = candidate.spec.tags.get("accuracy_source")
    return Estimate(value, str(source) if source else "catalog accuracy")


def cost(candidate: Candidate) -> Estimate:
    """The ``cost`` tag, else ``price_per_call``, else memory (``memory_mb`` or the
    ``size_mb`` tag), else unknown (ranked last)."""
    tags = candidate.spec.tags
    for name in ("cost", "price_per_call"):
        value = _number(tags.get(name))
        if value is not None:
            return Estimate(value, f"catalog {name}")
    if candidate.spec.memory_mb is not None:
        return Estimate(float(candidate.spec.memory_mb), "memory_mb (MB)")
    size = _number(tags.get("size_mb"))
    if size is not None:
        return Estimate(size, "size_mb (MB)")
    return Estimate(float("inf"), "unknown")
