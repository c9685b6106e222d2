"""The built-in selection strategies: ``default``, ``performance``, ``accuracy`` and
``cost``.

All four are stable sorts of the candidates in catalog order, so ties keep the order
the operator wrote. See :mod:`altlas.orchestration.estimates` for the tags they read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from altlas.orchestration.estimates import accuracy, cost, expected_latency
from altlas_sdk import Candidate, InferenceRequest, SelectionStrategy, hookimpl


class CatalogDefaultStrategy(SelectionStrategy):
    """The task's declared default model first, then loaded models (no load wait),
    then catalog order."""

    name = "default"

    def rank(
        self, task: str, candidates: Sequence[Candidate], request: InferenceRequest
    ) -> list[Candidate]:
        def key(candidate: Candidate) -> tuple[bool, bool]:
            return (task not in candidate.spec.default_for, not candidate.loaded)

        return sorted(candidates, key=key)

    def explain(self, task: str, candidate: Candidate) -> str:
        default = "the task's default model" if task in candidate.spec.default_for else None
        loaded = "loaded" if candidate.loaded else "not loaded"
        return ", ".join(part for part in (default, loaded) if part)


class PerformanceStrategy(SelectionStrategy):
    """Lowest expected latency first: measured milliseconds per call (the catalog's
    ``latency_ms`` before any traffic), plus the load time for a model not loaded."""

    name = "performance"

    def rank(
        self, task: str, candidates: Sequence[Candidate], request: InferenceRequest
    ) -> list[Candidate]:
        return sorted(candidates, key=lambda c: expected_latency(c).value)

    def explain(self, task: str, candidate: Candidate) -> str:
        estimate = expected_latency(candidate)
        return f"expected {estimate.value:.1f} ms: {estimate.source}"


class AccuracyStrategy(SelectionStrategy):
    """Highest ``accuracy`` first; models without one last; ties by expected latency."""

    name = "accuracy"

    def rank(
        self, task: str, candidates: Sequence[Candidate], request: InferenceRequest
    ) -> list[Candidate]:
        def key(candidate: Candidate) -> tuple[float, float]:
            score = accuracy(candidate)
            return (
                -score.value if score is not None else float("inf"),
                expected_latency(candidate).value,
            )

        return sorted(candidates, key=key)

    def explain(self, task: str, candidate: Candidate) -> str:
        score = accuracy(candidate)
        if score is None:
            return "no accuracy figure"
        return f"accuracy {score.value:g} ({score.source})"


class CostStrategy(SelectionStrategy):
    """Lowest cost first (``cost`` tag, else price per call, else memory); ties by
    expected latency."""

    name = "cost"

    def rank(
        self, task: str, candidates: Sequence[Candidate], request: InferenceRequest
    ) -> list[Candidate]:
        return sorted(candidates, key=lambda c: (cost(c).value, expected_latency(c).value))

    def explain(self, task: str, candidate: Candidate) -> str:
        estimate = cost(candidate)
        return f"cost {estimate.value:g} ({estimate.source})"


@hookimpl
def register_selection_strategies(register: Callable[[SelectionStrategy], None]) -> None:
    register(CatalogDefaultStrategy())
    register(PerformanceStrategy())
    register(AccuracyStrategy())
    register(CostStrategy())
