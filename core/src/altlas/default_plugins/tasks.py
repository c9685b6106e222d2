"""Registers every reserved task (:data:`altlas_sdk.tasks.TASK_IDS`): text generation,
chat, embedding and tensor, the vision and audio tasks, and the text scoring tasks.
Plugins serve them and never register them: a second registration is a conflict."""

from __future__ import annotations

from collections.abc import Callable

from altlas_sdk import TaskSpec, hookimpl
from altlas_sdk.audio.tasks import AUDIO_TASKS
from altlas_sdk.tasks import BUILTIN_TASKS
from altlas_sdk.text.tasks import TEXT_TASKS
from altlas_sdk.vision.tasks import VISION_TASKS

#: Every reserved task's spec, in the order of ``TASK_IDS``.
RESERVED_TASKS: tuple[TaskSpec, ...] = (*BUILTIN_TASKS, *VISION_TASKS, *AUDIO_TASKS, *TEXT_TASKS)


@hookimpl
def register_tasks(register: Callable[[TaskSpec], None]) -> None:
    """Register every reserved task."""
    for spec in RESERVED_TASKS:
        register(spec)
