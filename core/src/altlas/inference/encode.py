"""Step 6: check a backend's output and wrap it in the response."""

from __future__ import annotations

import logging

import msgspec

from altlas.inference.decode import TaskCall
from altlas_sdk.errors import InternalError
from altlas_sdk.wire import InferenceResponse, Timing

logger = logging.getLogger(__name__)


def check_output(call: TaskCall, output: object, backend: str) -> msgspec.Struct:
    """The output if it is the task's output type; a backend bug otherwise (500)."""
    if not isinstance(output, call.spec.output_type):
        raise InternalError.logged(
            logger,
            "backend %s returned %s for task %s, expected %s",
            backend,
            type(output).__name__,
            call.spec.id,
            call.spec.output_type.__name__,
        )
    return output


def build_response(
    *,
    model_id: str,
    call: TaskCall,
    output: msgspec.Struct,
    queue_ms: float,
    inference_ms: float,
    total_ms: float,
    from_cache: bool,
    request_id: str,
) -> InferenceResponse:
    """The response envelope around one output."""
    return InferenceResponse(
        model_id=model_id,
        task=call.spec.id,
        outputs=output,
        timing=Timing(
            queue_ms=round(queue_ms, 3),
            inference_ms=round(inference_ms, 3),
            total_ms=round(total_ms, 3),
        ),
        from_cache=from_cache,
        request_id=request_id,
    )
