"""Measuring what a model really takes: the process's RSS before and after loading."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from altlas_sdk import MemoryEstimate

T = TypeVar("T")


def process_rss() -> int:
    """Resident set size of this process in bytes."""
    import psutil

    return psutil.Process().memory_info().rss


def measure_load(load: Callable[[], T]) -> tuple[T, MemoryEstimate]:
    """Run ``load`` and return its result with the RSS it added.

    Other threads allocate too, so this is an estimate; a backend that knows better
    reports :meth:`altlas_sdk.LoadedModel.memory`.
    """
    before = process_rss()
    result = load()
    return result, MemoryEstimate(ram_bytes=max(0, process_rss() - before))
