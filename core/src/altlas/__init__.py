"""altlas: local AI models behind one REST API.

In-process use, as the design document shows it::

    from altlas import InferenceRequest, get_inference_service, get_model_manager

    status = await get_model_manager().load_model("minilm-l6")
    response = await get_inference_service().run_inference(
        InferenceRequest(model_id="minilm-l6", inputs=["a cat", "a kitten"])
    )
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from altlas_sdk.wire import InferenceRequest, InferenceResponse

if TYPE_CHECKING:
    from altlas.inference.service import InferenceService
    from altlas.manager import ModelManager

__version__ = "0.1.0"


def get_model_manager() -> ModelManager:
    """The model manager of the process's default runtime."""
    from altlas.runtime import get_runtime

    return get_runtime().models


def get_inference_service() -> InferenceService:
    """The inference service of the process's default runtime."""
    from altlas.runtime import get_runtime

    return get_runtime().inference


def _facade(name: str) -> Any:
    from altlas.runtime import get_runtime

    return get_runtime().facade(name)


def get_llama_cpp_adapter() -> Any:
    """The llama.cpp adapter (``load_model``, ``generate``); needs ``altlas-llama-cpp``."""
    return _facade("llama_cpp_adapter")


def get_vision_model_manager() -> Any:
    """The vision facade (``load_model``, ``detect_objects``...)."""
    return _facade("vision_model_manager")


def get_audio_model_manager() -> Any:
    """The audio facade (``load_model``, ``transcribe_audio``...)."""
    return _facade("audio_model_manager")


def get_model_orchestrator() -> Any:
    """The orchestrator (``run_ensemble_inference``...)."""
    return _facade("model_orchestrator")


def get_resource_monitor() -> Any:
    """The resource monitor (``get_current_usage()``)."""
    return _facade("resource_monitor")


__all__ = [
    "InferenceRequest",
    "InferenceResponse",
    "__version__",
    "get_audio_model_manager",
    "get_llama_cpp_adapter",
    "get_model_orchestrator",
    "get_resource_monitor",
    "get_vision_model_manager",
    "get_inference_service",
    "get_model_manager",
]
