"""ONNX Runtime sessions for the segmentation backends: providers chosen from the
device policy, the device read back from the session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from altlas_sdk import Device, DevicePolicy
from altlas_sdk.errors import BackendUnavailable, InvalidModelFile, WeightsMissing

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


def open_session(path: Path, policy: DevicePolicy, options: dict[str, Any]) -> Any:
    """An ``InferenceSession`` on CUDA (capped at the policy's GPU memory) when the
    policy allows it and this onnxruntime build has it, else on the CPU."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise BackendUnavailable(
            "onnxruntime is not installed: pip install 'altlas-segmentation[cpu]' "
            "(or '[gpu]' for CUDA; never both)"
        ) from None
    if not path.is_file():
        raise WeightsMissing(f"'{path}' is not a file; the model needs a .onnx file")
    providers: list[Any] = [CPU]
    if policy.use_gpu and CUDA in ort.get_available_providers():
        cuda: dict[str, Any] = {"device_id": 0}
        if policy.gpu_memory_limit_mb is not None:
            cuda["gpu_mem_limit"] = policy.gpu_memory_limit_mb * 1024 * 1024
        providers = [(CUDA, cuda), CPU]
    session_options = ort.SessionOptions()
    if options.get("intra_op_num_threads") is not None:
        session_options.intra_op_num_threads = int(options["intra_op_num_threads"])
    try:
        return ort.InferenceSession(str(path), session_options, providers=providers)
    except Exception as error:  # noqa: BLE001 - onnxruntime raises its own types
        raise InvalidModelFile(f"cannot load '{path.name}' with onnxruntime: {error}") from None


def device_of(session: Any) -> Device:
    """Where ``session`` runs: onnxruntime-gpu lists CUDA even when it falls back, so
    only the session's own providers are trusted."""
    providers = session.get_providers()
    return Device("cuda", 0) if providers and providers[0] == CUDA else Device()
