"""Ensembles: several models run one request, a combiner merges their outputs.

A plugin registers a :class:`Combiner` through the ``register_combiners`` hook for the
tasks it can merge. The core ships ``mean-embedding`` (embeddings averaged and
renormalized), ``label-vote`` (a weighted vote over each member's top labels) and
``text-vote`` (majority vote over short texts); capability plugins add theirs (box
fusion for detections, line voting for OCR...).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from msgspec import Struct


@dataclass(frozen=True)
class Member:
    """One ensemble member's answer: the model, its weight and its typed output.

    ``weight`` is the model's ``accuracy`` tag when it has one, else 1.
    """

    model_id: str
    weight: float
    output: Struct


class Combiner(ABC):
    """Merges the outputs of several models for one task into one output of the same
    type.

    - ``name``: what a request's ``combiner`` field names.
    - ``tasks``: the task ids it merges; the first combiner registered for a task is
      that task's default.
    """

    name: ClassVar[str]
    tasks: ClassVar[tuple[str, ...]]

    @abstractmethod
    def combine(self, task: str, members: Sequence[Member], parameters: Struct) -> Struct:
        """One output of ``task``'s output type from at least one member's output.

        Raise :class:`~altlas_sdk.errors.ValidationFailed` when the outputs cannot be
        merged (e.g. embeddings of different dimensions).
        """
