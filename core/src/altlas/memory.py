"""Measuring what a model really takes: the process's RSS before and after loading."""

from __future__ import annotations

import ctypes
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


def release_freed_memory() -> None:
    """Hand memory freed by an unload back to the system.

    glibc keeps freed heap pages for reuse, so RSS would not drop after an unload;
    ``malloc_trim(0)`` returns them. Other C libraries (musl, macOS) have no such call
    and release on their own terms.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    trim = getattr(libc, "malloc_trim", None)
    if trim is not None:
        trim(0)
