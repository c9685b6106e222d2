"""Registers the built-in tasks: text-generation, chat, embedding and tensor, and the
media tasks whose types the SDK fixes (vision and audio); plugins only serve them."""

from __future__ import annotations

from collections.abc import Callable

from altlas_sdk import TaskSpec, hookimpl
from altlas_sdk.audio.tasks import AUDIO_TASKS
from altlas_sdk.tasks import BUILTIN_TASKS
from altlas_sdk.vision.tasks import VISION_TASKS


@hookimpl
def register_tasks(register: Callable[[TaskSpec], None]) -> None:
    for spec in BUILTIN_TASKS:
        register(spec)
    for spec in VISION_TASKS:
        register(spec)
    for spec in AUDIO_TASKS:
        register(spec)
