"""Measuring what a model really takes: the process's RSS, and its GPU memory where an
NVIDIA driver is there, before and after loading."""

from __future__ import annotations

import ctypes
import os
import sys
import threading
from collections.abc import Callable
from typing import TypeVar

from altlas_sdk import MemoryEstimate

T = TypeVar("T")


def process_rss() -> int:
    """Resident set size of this process in bytes."""
    import psutil

    return psutil.Process().memory_info().rss


def measure_load(load: Callable[[], T]) -> tuple[T, MemoryEstimate]:
    """Run ``load`` and return its result with the RSS and GPU memory it added.

    Other threads allocate too, so this is an estimate; a backend that knows better
    reports :meth:`altlas_sdk.LoadedModel.memory`.
    """
    ram_before, gpu_before = process_rss(), process_gpu_bytes()
    result = load()
    ram_after, gpu_after = process_rss(), process_gpu_bytes()
    return result, MemoryEstimate(
        ram_bytes=max(0, ram_after - ram_before), gpu_bytes=max(0, gpu_after - gpu_before)
    )


_nvml_lock = threading.Lock()
_nvml_ready: bool | None = None


def process_gpu_bytes() -> int:
    """GPU memory this process holds on every GPU, as NVML reports it; 0 without an
    NVIDIA driver. Where NVML cannot attribute memory to processes (some container
    runtimes), the devices' used memory stands in: a coarser figure, still a delta."""
    global _nvml_ready
    with _nvml_lock:
        if _nvml_ready is None:
            try:
                import pynvml

                pynvml.nvmlInit()
                _nvml_ready = True
            except Exception:  # noqa: BLE001 - ImportError, NVMLError, OSError alike
                _nvml_ready = False
        if not _nvml_ready:
            return 0
        import pynvml

        pid, total = os.getpid(), 0
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            try:
                processes = pynvml.nvmlDeviceGetComputeRunningProcesses(handle)
            except pynvml.NVMLError:
                processes = None
            mine = [p for p in processes or () if p.pid == pid]
            if processes is not None and (mine or processes):
                total += sum(p.usedGpuMemory or 0 for p in mine)
            else:
                total += int(pynvml.nvmlDeviceGetMemoryInfo(handle).used)
        return total


def release_freed_memory() -> None:
    """Hand memory freed by an unload back to the system.

    glibc keeps freed heap pages for reuse, so RSS would not drop after an unload;
    ``malloc_trim(0)`` returns them. Other C libraries (musl, macOS) have no such call
    and release on their own terms. Likewise PyTorch's CUDA allocator keeps freed
    blocks cached for its own reuse: when a plugin has already brought torch in and
    used CUDA, the cache is emptied so that other models (and other processes) get the
    memory. torch is never imported here.
    """
    torch = sys.modules.get("torch")
    cuda = getattr(torch, "cuda", None)
    if cuda is not None and cuda.is_initialized():
        cuda.empty_cache()
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    trim = getattr(libc, "malloc_trim", None)
    if trim is not None:
        trim(0)
