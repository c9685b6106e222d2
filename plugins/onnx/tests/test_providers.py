"""Provider choice: CUDA only when allowed and present; the session decides the device."""

from altlas_onnx.providers import CPU, CUDA, choose_providers, device_of
from altlas_sdk import DevicePolicy


def test_cpu_when_gpu_not_allowed():
    assert choose_providers(DevicePolicy(use_gpu=False), [CUDA, CPU]) == [CPU]


def test_cpu_when_build_has_no_cuda():
    assert choose_providers(DevicePolicy(use_gpu=True), [CPU]) == [CPU]


def test_cuda_first_with_memory_cap():
    providers = choose_providers(DevicePolicy(use_gpu=True, gpu_memory_limit_mb=512), [CUDA, CPU])
    assert providers == [(CUDA, {"device_id": 0, "gpu_mem_limit": 512 * 1024 * 1024}), CPU]


def test_entry_providers_filtered_to_available():
    assert choose_providers(DevicePolicy(), [CPU], ["TensorrtExecutionProvider", CPU]) == [CPU]


def test_device_comes_from_the_session():
    assert str(device_of([CUDA, CPU])) == "cuda:0"
    assert str(device_of([CPU])) == "cpu"
