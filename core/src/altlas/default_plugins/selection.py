"""The built-in ``default`` selection strategy."""

from __future__ import annotations

from collections.abc import Callable, Sequence

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


@hookimpl
def register_selection_strategies(register: Callable[[SelectionStrategy], None]) -> None:
    register(CatalogDefaultStrategy())
