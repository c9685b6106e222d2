"""The default model host, ``thread``: backends run inside the API server's process, on
its executor threads. No process boundary, no extra dependency; a native crash in a
backend takes the whole server down (``MODEL_HOST=ray`` isolates each model).
"""

from __future__ import annotations

import functools
import socket
from collections.abc import Callable

import psutil

from altlas_sdk import (
    Backend,
    DevicePolicy,
    LoadedModel,
    ModelFiles,
    ModelHost,
    ModelSpec,
    NodeInfo,
    hookimpl,
)
from altlas_sdk.errors import Conflict


class ThreadHost(ModelHost):
    """Loads each model in this process through its backend: one node, this machine."""

    name = "thread"

    def load(
        self,
        backend: Backend,
        spec: ModelSpec,
        files: ModelFiles,
        policy: DevicePolicy,
        *,
        node: str | None = None,
    ) -> LoadedModel:
        """Call ``backend.load`` here; ``node`` can only be this machine."""
        if spec.replicas > 1:
            # Several copies in one process would share its memory and crash together:
            # refuse instead of quietly serving one.
            raise Conflict(
                f"model '{spec.id}' asks for {spec.replicas} replicas; the thread host "
                "runs one copy of each model (set replicas = 1, or MODEL_HOST=ray)",
                code="replicas_unsupported",
            )
        return backend.load(spec, files, policy)

    def nodes(self) -> list[NodeInfo]:
        """This machine: its RAM and the GPUs NVML sees."""
        memory = psutil.virtual_memory()
        return [
            NodeInfo(
                node=socket.gethostname(),
                ram_total_bytes=int(memory.total),
                ram_used_bytes=int(memory.total - memory.available),
                gpus=_gpu_count(),
                resources={"CPU": float(psutil.cpu_count() or 1)},
            )
        ]


@functools.cache
def _gpu_count() -> int:
    """NVIDIA GPUs the driver reports; 0 without ``nvidia-ml-py`` or a driver. Read
    once: the manager asks for the nodes on every load."""
    try:
        import pynvml

        pynvml.nvmlInit()
        return int(pynvml.nvmlDeviceGetCount())
    except Exception:  # noqa: BLE001 - ImportError, NVMLError, OSError alike
        return 0


@hookimpl(tryfirst=True)
def register_model_hosts(register: Callable[[ModelHost], None]) -> None:
    """The built-in ``thread`` host (the default ``MODEL_HOST``)."""
    register(ThreadHost())
