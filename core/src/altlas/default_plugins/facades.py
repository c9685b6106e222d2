"""Registers the core's in-process facades (the design document's ``get_...()``
entry points that are generic over every plugin serving their tasks)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from altlas_sdk import hookimpl


@hookimpl
def register_facades(register: Callable[[str, Callable[[Any], object]], None]) -> None:
    from altlas.monitor import ResourceMonitor

    register("resource_monitor", ResourceMonitor)

    from altlas.facades.vision import VisionModelManager

    register("vision_model_manager", VisionModelManager)

    from altlas.facades.audio import AudioModelManager

    register("audio_model_manager", AudioModelManager)

    register("model_orchestrator", lambda runtime: runtime.orchestrator)
