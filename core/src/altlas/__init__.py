"""altlas: local AI models behind one REST API.

In-process use, as the design document shows it::

    from altlas import InferenceRequest, get_inference_service, get_model_manager

    status = await get_model_manager().load_model("minilm-l6")
    response = await get_inference_service().run_inference(
        InferenceRequest(model_id="minilm-l6", inputs=["a cat", "a kitten"])
    )
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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


__all__ = [
    "InferenceRequest",
    "InferenceResponse",
    "__version__",
    "get_inference_service",
    "get_model_manager",
]
