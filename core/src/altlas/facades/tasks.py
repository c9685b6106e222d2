"""What every task facade shares: listing, loading and unloading the models of its
tasks, and running one task as the same request the HTTP routes run."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec

from altlas_sdk import ModelSpec
from altlas_sdk.errors import BadRequest, ValidationFailed
from altlas_sdk.wire import InferenceRequest, ModelStatus

if TYPE_CHECKING:
    from altlas.runtime import Runtime

#: A media file: its bytes, or the path of the file.
MediaData = bytes | bytearray | memoryview | str | os.PathLike

_SPEC_FIELDS = frozenset(ModelSpec.__struct_fields__) - {"id"}


class TaskFacade:
    """Models in-process for a group of tasks (``task_ids``).

    Every method is a coroutine, to be awaited on the event loop the runtime serves on
    (or under ``asyncio.run`` in a script).
    """

    #: The tasks this facade lists models for.
    task_ids: ClassVar[tuple[str, ...]] = ()

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def list_models(self, task: str | None = None) -> list[ModelSpec]:
        """Catalog entries serving ``task``, or any of the facade's tasks when omitted."""
        tasks = (task,) if task is not None else self.task_ids
        return [
            entry.spec
            for entry in self.runtime.catalog
            if any(name in entry.spec.tasks for name in tasks)
        ]

    async def load_model(
        self,
        model_id: str,
        kind: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> ModelStatus:
        """Load a catalog model; returns once it is loaded.

        ``kind`` is the backend the caller expects (``"yolo"``, ``"whisper"``...): a
        model run by another backend is refused rather than silently used. ``config``
        changes the entry before it loads: catalog fields (``source``, ``files``,
        ``options``...) by name, any other key as a backend option
        (``{"compute_type": "int8"}``).
        """
        entry = self.runtime.catalog.get(model_id)
        if kind is not None and entry.spec.backend != kind:
            raise BadRequest(
                f"model '{model_id}' runs on the '{entry.spec.backend}' backend, not '{kind}'",
                param="kind",
            )
        if config:
            self.runtime.catalog.replace(configured(entry.spec, config))
        return await self.runtime.models.load_model(model_id)

    async def unload_model(self, model_id: str) -> ModelStatus:
        """Unload a model."""
        return await self.runtime.models.unload_model(model_id)

    async def _run(
        self, task: str, inputs: dict[str, Any], model_id: str | None, parameters: dict[str, Any]
    ) -> Any:
        request = InferenceRequest(model_id=model_id, inputs=inputs, parameters=parameters)
        response = await self.runtime.inference.run_inference(request, task=task)
        return response.outputs


def media_bytes(data: MediaData, kind: str) -> bytes:
    """The bytes of ``data`` (bytes, or a file path); ``kind`` names it in errors
    (``"image"`` -> parameter ``image_data``)."""
    param = f"{kind}_data"
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        if not path.is_file():
            raise ValidationFailed(f"no {kind} file at '{path}'", param=param)
        return path.read_bytes()
    raise ValidationFailed(
        f"{param} must be bytes or a file path, not {type(data).__name__}", param=param
    )


def configured(spec: ModelSpec, config: Mapping[str, Any]) -> ModelSpec:
    """``spec`` with ``config`` applied: catalog fields by name, other keys as options."""
    fields = msgspec.structs.asdict(spec)
    options = dict(spec.options)
    for key, value in config.items():
        if key == "options":
            options.update(value)
        elif key in _SPEC_FIELDS:
            fields[key] = value
        else:
            options[key] = value
    fields["options"] = options
    try:
        return msgspec.convert(fields, ModelSpec)
    except msgspec.ValidationError as error:
        raise ValidationFailed(f"config: {error}", param="config") from None
