"""Measuring what a model really takes: the process's RSS, and its GPU memory where an
NVIDIA driver is there, before and after loading.

A load often imports its library first (torch, onnxruntime, ultralytics): hundreds of
MB that stay in the process whatever is unloaded later, and that the next model using
the library does not add again. Charged to the model that happened to load first, they
would make its charge depend on load order. So imports are metered apart
(:class:`ImportMeter`): the RSS growth of each import done while a load runs is the
process's (:func:`library_bytes`), and the model is charged the rest.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.abc
import importlib.machinery
import os
import sys
import threading
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any, ClassVar, TypeVar

from altlas_sdk import MemoryEstimate

T = TypeVar("T")


def process_rss() -> int:
    """Resident set size of this process in bytes."""
    import psutil

    return psutil.Process().memory_info().rss


def measure_load(load: Callable[[], T]) -> tuple[T, MemoryEstimate]:
    """Run ``load`` and return its result with the RSS and GPU memory it added, less
    the RSS of the libraries it imported (those count in :func:`library_bytes`).

    Other threads allocate too, so this is an estimate; a backend that knows better
    reports :meth:`altlas_sdk.LoadedModel.memory`.
    """
    meter = ImportMeter.installed()
    ram_before, gpu_before = process_rss(), process_gpu_bytes()
    imported_before = meter.total
    with meter.metering():
        result = load()
    ram_after, gpu_after = process_rss(), process_gpu_bytes()
    imported = meter.total - imported_before
    return result, MemoryEstimate(
        ram_bytes=max(0, ram_after - ram_before - imported),
        gpu_bytes=max(0, gpu_after - gpu_before),
    )


def library_bytes() -> int:
    """RSS that imports done during model loads added to the process: the libraries
    the models share, which stay loaded (0 before the first measured load)."""
    meter = ImportMeter.current
    return meter.total if meter is not None else 0


class ImportMeter(importlib.abc.MetaPathFinder):
    """A meta path finder that measures the RSS each import adds.

    It finds nothing itself: it asks the finders after it for the module's spec and
    gives the loader a subclass of its own class whose ``exec_module`` measures the
    RSS before and after (so ``isinstance`` checks on loaders still hold). Only the
    outermost import of a thread is measured: it includes those it triggers.
    """

    current: ClassVar[ImportMeter | None] = None
    _install_lock = threading.Lock()

    def __init__(self) -> None:
        self.total = 0
        self._lock = threading.Lock()
        self._local = threading.local()
        self._subclasses: dict[type, type] = {}
        #: Loads running now: imports are metered only while one runs.
        self._loads = 0

    @contextlib.contextmanager
    def metering(self) -> Iterator[None]:
        """Meter the imports done while the block (one model's load) runs."""
        with self._lock:
            self._loads += 1
        try:
            yield
        finally:
            with self._lock:
                self._loads -= 1

    @classmethod
    def installed(cls) -> ImportMeter:
        """The process's meter, installed first in ``sys.meta_path`` on first use."""
        with cls._install_lock:
            if cls.current is None:
                process_rss()  # psutil imported before the meter needs it
                cls.current = cls()
                sys.meta_path.insert(0, cls.current)
            return cls.current

    def find_spec(
        self, fullname: str, path: Any = None, target: Any = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not self._loads or getattr(self._local, "finding", False):
            return None
        self._local.finding = True
        try:
            spec = self._spec_from_others(fullname, path, target)
        finally:
            self._local.finding = False
        if spec is not None and spec.loader is not None:
            self._meter(spec)
        return spec

    def _spec_from_others(
        self, fullname: str, path: Any, target: Any
    ) -> importlib.machinery.ModuleSpec | None:
        for finder in list(sys.meta_path):
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                return spec
        return None

    def _meter(self, spec: importlib.machinery.ModuleSpec) -> None:
        loader = spec.loader
        kind = type(loader)
        if isinstance(loader, type) or not hasattr(loader, "exec_module"):
            return  # a class used as its own loader (builtins, frozen): nothing to meter
        if getattr(kind, "_altlas_metered", False):
            return  # a loader serving a module inside another's import: metered already
        metered = self._subclasses.get(kind)
        if metered is None:
            metered = self._subclasses[kind] = _metered_loader_class(kind, self)
        try:
            loader.__class__ = metered
        except TypeError:
            pass  # a loader class that cannot be subclassed this way: left unmetered

    def measure(self, loader: Any, kind: type, module: ModuleType) -> None:
        """Execute ``module`` with ``loader`` as its own class ``kind`` would, adding
        the RSS growth to ``total`` when it is the thread's outermost import. Nested
        imports run straight through (one frame each: deep import chains must not
        reach the recursion limit)."""
        depth = getattr(self._local, "depth", 0)
        try:
            if depth:
                kind.exec_module(loader, module)
                return
            self._local.depth = 1
            before = process_rss()
            try:
                kind.exec_module(loader, module)
            finally:
                self._local.depth = 0
                grown = max(0, process_rss() - before)
                with self._lock:
                    self.total += grown
        finally:
            # One loader object may serve many modules (pytest's assertion rewriter
            # does): it goes back to its own class once this module is executed.
            loader.__class__ = kind


def _metered_loader_class(kind: type, meter: ImportMeter) -> type:
    def exec_module(self: Any, module: ModuleType) -> None:
        meter.measure(self, kind, module)

    namespace = {"exec_module": exec_module, "__module__": kind.__module__, "_altlas_metered": True}
    return type(kind.__name__, (kind,), namespace)


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
