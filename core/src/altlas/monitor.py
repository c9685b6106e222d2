"""Resource monitoring: CPU, RAM, GPUs and what each loaded model holds.

GPUs are read through NVML (the ``nvidia-ml-py`` distribution's ``pynvml``), which
talks to the driver directly: no CUDA toolkit or framework import is needed. Without a
driver (no GPU, or not an NVIDIA one) the report says so instead of failing.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import msgspec
import psutil

from altlas.model_state import ModelUsage
from altlas_sdk import NodeInfo

if TYPE_CHECKING:
    from altlas.runtime import Runtime


class CpuUsage(msgspec.Struct, kw_only=True):
    """Machine CPU: logical cores and utilization since the previous reading."""

    count: int
    percent: float
    process_percent: float


class RamUsage(msgspec.Struct, kw_only=True):
    """Machine RAM and this process's resident set, in bytes."""

    total_bytes: int
    available_bytes: int
    used_percent: float
    process_rss_bytes: int
    budget_bytes: int
    models_bytes: int


class GpuUsage(msgspec.Struct, kw_only=True):
    """One GPU as NVML reports it."""

    index: int
    name: str
    memory_total_bytes: int
    memory_used_bytes: int
    utilization_percent: float
    budget_bytes: int | None = None


class ResourceUsage(msgspec.Struct, kw_only=True):
    """``GET /api/system/resources`` and ``get_resource_monitor().get_current_usage()``."""

    cpu: CpuUsage
    ram: RamUsage
    gpus: list[GpuUsage]
    #: Why ``gpus`` is empty ("no GPU: ..."), or ``None`` when GPUs were read.
    gpu_note: str | None
    models: list[ModelUsage]
    #: The nodes the model host runs models on, each with the models loaded there
    #: (the thread host: this machine).
    nodes: list[NodeInfo] = []


class GpuReader:
    """Reads GPUs through NVML, initialized once; remembers why it cannot."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ready: bool | None = None
        self.note: str | None = None

    def _init(self) -> bool:
        if self._ready is None:
            try:
                import pynvml

                pynvml.nvmlInit()
                self._ready = True
            except ImportError:
                self._ready, self.note = False, "no GPU: nvidia-ml-py is not installed"
            except Exception as error:  # noqa: BLE001 - NVMLError and OSError alike
                self._ready, self.note = False, f"no GPU: NVML is not available ({error})"
        return self._ready

    def read(self, budget_bytes: int | None) -> list[GpuUsage]:
        """Every GPU's memory and utilization, or ``[]`` (see :attr:`note`)."""
        with self._lock:
            if not self._init():
                return []
            import pynvml

            gpus = []
            for index in range(pynvml.nvmlDeviceGetCount()):
                handle = pynvml.nvmlDeviceGetHandleByIndex(index)
                memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
                name = pynvml.nvmlDeviceGetName(handle)
                gpus.append(
                    GpuUsage(
                        index=index,
                        name=name.decode() if isinstance(name, bytes) else str(name),
                        memory_total_bytes=int(memory.total),
                        memory_used_bytes=int(memory.used),
                        utilization_percent=float(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu),
                        budget_bytes=budget_bytes,
                    )
                )
            if not gpus:
                self.note = "no GPU: NVML found no devices"
            return gpus


class ResourceMonitor:
    """The design document's resource monitor, over one runtime."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.gpus = GpuReader()
        self._process = psutil.Process()
        # The first cpu_percent() call only starts the measuring interval.
        psutil.cpu_percent(interval=None)
        self._process.cpu_percent(interval=None)

    def get_current_usage(self) -> ResourceUsage:
        """CPU, RAM, GPUs and per-model memory now. Blocking but quick (no sleeps)."""
        settings = self.runtime.settings
        manager = self.runtime.models
        memory = psutil.virtual_memory()
        models = manager.holdings()
        gpus = self.gpus.read(settings.gpu_budget_bytes())
        return ResourceUsage(
            cpu=CpuUsage(
                count=psutil.cpu_count() or 1,
                percent=psutil.cpu_percent(interval=None),
                process_percent=self._process.cpu_percent(interval=None),
            ),
            ram=RamUsage(
                total_bytes=int(memory.total),
                available_bytes=int(memory.available),
                used_percent=float(memory.percent),
                process_rss_bytes=int(self._process.memory_info().rss),
                budget_bytes=settings.ram_budget_bytes(),
                models_bytes=sum(model.ram_bytes for model in models),
            ),
            gpus=gpus,
            gpu_note=None if gpus else self.gpus.note,
            models=models,
            nodes=self.nodes(),
        )

    def nodes(self) -> list[NodeInfo]:
        """The host's nodes; a node whose models the host left empty gets the loaded
        models that run there (by their ``host().node``; ``None`` is the only node)."""
        manager = self.runtime.models
        nodes = manager.host.nodes()
        placed: dict[str | None, list[str]] = {}
        for usage in manager.holdings():
            model = manager.loaded_model(usage.model_id)
            if model is not None:
                placed.setdefault(model.host().node, []).append(usage.model_id)
        for node in nodes:
            if not node.models:
                here = placed.get(node.node, [])
                if len(nodes) == 1:
                    here = here + placed.get(None, [])
                node.models = sorted(here)
        return nodes
