"""Choosing ONNX Runtime execution providers, and reading back what really runs."""

from __future__ import annotations

from typing import Any

from altlas_sdk import Device, DevicePolicy

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


def choose_providers(
    policy: DevicePolicy, available: list[str], requested: list[str] | None = None
) -> list[Any]:
    """Providers to ask for: the entry's own list if it gives one, else CUDA (with the
    GPU memory cap) when the policy allows a GPU and this onnxruntime build has it,
    then CPU."""
    if requested:
        return [name for name in requested if name in available] or [CPU]
    if policy.use_gpu and CUDA in available:
        options: dict[str, Any] = {"device_id": 0}
        if policy.gpu_memory_limit_mb is not None:
            options["gpu_mem_limit"] = policy.gpu_memory_limit_mb * 1024 * 1024
        return [(CUDA, options), CPU]
    return [CPU]


def device_of(session_providers: list[str]) -> Device:
    """Where a session runs. onnxruntime-gpu lists CUDA as available even without a
    GPU and silently falls back, so only the session's own providers are trusted."""
    return Device("cuda", 0) if session_providers and session_providers[0] == CUDA else Device()
