"""Text scoring tasks (``text-classification``, ``rerank``): their typed inputs,
parameters and outputs in :mod:`altlas_sdk.text.tasks`."""

from __future__ import annotations

from altlas_sdk.text.tasks import TEXT_TASKS

__all__ = ["TEXT_TASKS"]
