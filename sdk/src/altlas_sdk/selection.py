"""Selection strategies: which model serves a request that names a task but no model.

A strategy ranks :class:`Candidate` models. Each candidate carries its catalog entry
(whose ``tags`` hold the operator's or plugin's priors: ``latency_ms``, ``accuracy``,
``cost``, ``size_mb``, ``languages``, ``labels``...) and :class:`ModelStats` measured
from the requests the service has served, so a strategy can prefer evidence to priors.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from altlas_sdk.catalog import ModelSpec
from altlas_sdk.wire import InferenceRequest

#: ``closed``: requests flow; ``open``: the model failed repeatedly and is skipped
#: until its cool-down ends; ``half-open``: one trial request is let through.
CircuitState = Literal["closed", "open", "half-open"]


@dataclass(frozen=True)
class ModelStats:
    """What the service measured of one model.

    - ``requests``: backend calls served (successful ones).
    - ``latency_ms``: smoothed milliseconds per call inside the backend (``None``
      before the first call).
    - ``load_ms``: milliseconds its last load took (``None``: never loaded here).
    - ``consecutive_failures`` and ``circuit``: the model's circuit breaker.
    - ``running``, ``queued`` and ``slots``: calls in the backend now, calls waiting
      for a slot, and how many calls the model takes at once.
    """

    requests: int = 0
    latency_ms: float | None = None
    load_ms: float | None = None
    consecutive_failures: int = 0
    circuit: CircuitState = "closed"
    running: int = 0
    queued: int = 0
    slots: int = 1


@dataclass(frozen=True)
class Candidate:
    """A model that serves the task, with what a strategy may weigh."""

    spec: ModelSpec
    loaded: bool
    stats: ModelStats = field(default_factory=ModelStats)


class SelectionStrategy(ABC):
    """Ranks candidate models for a task; the core runs the first of the ranking and,
    in orchestrated requests, falls back to the next ones."""

    name: ClassVar[str]

    @abstractmethod
    def rank(
        self, task: str, candidates: Sequence[Candidate], request: InferenceRequest
    ) -> list[Candidate]:
        """Return ``candidates`` best first (drop any that must not run)."""

    def explain(self, task: str, candidate: Candidate) -> str:
        """One line saying why ``candidate`` ranks where it does (shown to clients in
        orchestrated responses). The default names the strategy."""
        return f"ranked by strategy '{self.name}'"
