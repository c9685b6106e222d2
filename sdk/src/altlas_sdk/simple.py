"""The short path to a plugin that serves one model: no ``Backend`` class, no hooks.

Subclass :class:`SimpleModel`, give it its catalog ``entry``, load the weights in
:meth:`~SimpleModel.setup` and answer one input in :meth:`~SimpleModel.predict`; then
point the plugin's entry point at a :class:`SimplePlugin` of it::

    class Shout(SimpleModel):
        entry = ModelSpec(id="shout", backend="shout", tasks=["text-generation"],
                          source="package:altlas_shout/__init__.py")

        def predict(self, inputs, parameters):
            return TextGenerationOutput(text=inputs.prompt.upper())


    plugin = SimplePlugin(Shout)  # [project.entry-points.altlas] shout = "altlas_shout:plugin"

The plugin registers, for each model class, a backend named ``entry.backend`` serving
``entry.tasks``, the catalog entry itself, and the model's ``new_task`` when it defines
a task id of its own. Anything the short path does not cover (native batching,
streaming, a backend serving many catalog entries) is a plain :class:`~altlas_sdk.Backend`.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from altlas_sdk import hookimpl
from altlas_sdk.backend import (
    Backend,
    CancellationToken,
    DevicePolicy,
    LoadedModel,
    MemoryEstimate,
    ModelFiles,
)
from altlas_sdk.catalog import ModelSpec
from altlas_sdk.tasks import TaskSpec

if TYPE_CHECKING:
    from msgspec import Struct


class SimpleModel(LoadedModel):
    """A model and its catalog entry in one class.

    Set ``entry``, the :class:`~altlas_sdk.ModelSpec` the plugin registers (its
    ``backend`` names the backend made for this class; the operator's config file may
    still override any field). Optionally set ``new_task``, a :class:`TaskSpec` for a
    task id the model introduces, and ``max_concurrency`` (above 1, :meth:`predict`
    must be thread-safe).

    The core creates one instance per load: ``spec`` is the entry as the catalog holds
    it (``spec.options`` included). Set :attr:`device` in :meth:`setup` when the model
    may run elsewhere than on the CPU.
    """

    entry: ClassVar[ModelSpec]
    new_task: ClassVar[TaskSpec | None] = None
    max_concurrency: ClassVar[int] = 1

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec

    def setup(self, files: ModelFiles, policy: DevicePolicy) -> None:
        """Load the weights from ``files`` (import the heavy library here, not at module
        level). The default loads nothing."""

    @classmethod
    def estimate_memory(cls, spec: ModelSpec, files: ModelFiles) -> MemoryEstimate:
        """Memory a load will take, asked before loading; the default is the files'
        size, in RAM."""
        return MemoryEstimate(ram_bytes=files.size_bytes())

    @abstractmethod
    def predict(self, inputs: Any, parameters: Any) -> Struct:
        """Answer one input: ``inputs`` and ``parameters`` are validated instances of the
        task's types; return the task's output Struct. Raise
        :class:`~altlas_sdk.errors.InvalidInput` for an input the model cannot take."""

    def infer(
        self, task: str, inputs: Struct, parameters: Struct, cancel: CancellationToken
    ) -> Struct:
        """Run :meth:`predict` unless the request was already cancelled."""
        cancel.raise_if_cancelled()
        return self.predict(inputs, parameters)


class SimpleBackend(Backend):
    """The backend :class:`SimplePlugin` registers for one :class:`SimpleModel` class."""

    def __init__(self, model: type[SimpleModel]) -> None:
        self.model = model
        # Instance attributes: each model class gets a backend of its own name.
        self.name = model.entry.backend  # type: ignore[misc]
        self.tasks = tuple(model.entry.tasks)  # type: ignore[misc]
        self.max_concurrency = model.max_concurrency  # type: ignore[misc]

    def estimate_memory(self, spec: ModelSpec, files: ModelFiles) -> MemoryEstimate:
        """The model class's estimate."""
        return self.model.estimate_memory(spec, files)

    def load(self, spec: ModelSpec, files: ModelFiles, policy: DevicePolicy) -> LoadedModel:
        """A new instance of the model class, set up from ``files``."""
        model = self.model(spec)
        model.setup(files, policy)
        return model


class SimplePlugin:
    """The hook implementations of a plugin made of :class:`SimpleModel` classes: the
    object a plugin's ``altlas`` entry point names (``"altlas_mine:plugin"``)."""

    def __init__(self, *models: type[SimpleModel]) -> None:
        if not models:
            raise ValueError("SimplePlugin needs at least one SimpleModel class")
        self.models = models

    @hookimpl
    def register_tasks(self, register: Callable[[TaskSpec], None]) -> None:
        """Register each model's ``new_task``, if it has one."""
        for model in self.models:
            if model.new_task is not None:
                register(model.new_task)

    @hookimpl
    def register_backends(self, register: Callable[[Backend], None]) -> None:
        """Register one :class:`SimpleBackend` per model class."""
        for model in self.models:
            register(SimpleBackend(model))

    @hookimpl
    def register_catalog_entries(self, register: Callable[[ModelSpec], None]) -> None:
        """Register each model's ``entry``."""
        for model in self.models:
            register(model.entry)
