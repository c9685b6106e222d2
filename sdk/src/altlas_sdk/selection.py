"""Selection strategies: which model serves a request that names a task but no model."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from altlas_sdk.catalog import ModelSpec
from altlas_sdk.wire import InferenceRequest


@dataclass(frozen=True)
class Candidate:
    """A model that serves the task, with what a strategy may weigh."""

    spec: ModelSpec
    loaded: bool


class SelectionStrategy(ABC):
    """Ranks candidate models for a task; the core runs the first of the ranking."""

    name: ClassVar[str]

    @abstractmethod
    def rank(
        self, task: str, candidates: Sequence[Candidate], request: InferenceRequest
    ) -> list[Candidate]:
        """Return ``candidates`` best first (drop any that must not run)."""
