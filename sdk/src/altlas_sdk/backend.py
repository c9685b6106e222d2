"""The backend interface: what a plugin implements to serve models.

A :class:`Backend` is registered once (through ``register_backends``) and knows how to
estimate and load the models whose catalog entries name it. Loading returns a
:class:`LoadedModel`, which runs inputs until it is unloaded.

Every method is synchronous: the core calls them from its executor (a thread pool),
never on the event loop, so a backend may block freely. Import the heavy library
(``onnxruntime``, ``torch``, ``llama_cpp``...) inside these methods, never at module
import time.
"""

from __future__ import annotations

import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from altlas_sdk.errors import AltlasError, BadRequest, Cancelled, ModelCrashed
from altlas_sdk.hosts import HostInfo

if TYPE_CHECKING:
    from msgspec import Struct

    from altlas_sdk.catalog import ModelSpec


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes of host RAM and of GPU memory a model takes."""

    ram_bytes: int = 0
    gpu_bytes: int = 0


@dataclass(frozen=True)
class Device:
    """Where a loaded model runs: ``kind`` is ``"cpu"`` or ``"cuda"``."""

    kind: str = "cpu"
    index: int = 0

    def __str__(self) -> str:
        return self.kind if self.kind == "cpu" else f"{self.kind}:{self.index}"


@dataclass(frozen=True)
class DevicePolicy:
    """What the operator allows: ``use_gpu`` means "use a GPU if one is really there";
    ``gpu_memory_limit_mb`` caps what a backend may take on it (``None``: no cap)."""

    use_gpu: bool = True
    gpu_memory_limit_mb: int | None = None


@dataclass(frozen=True)
class ModelFiles:
    """A model's files, resolved to local paths by the model sources.

    ``path`` is the main file or folder named by the entry's ``source``; ``extra`` the
    entry's other named ``files``; ``fingerprint`` a digest of their names, sizes and
    modification times, which changes when the weights do.
    """

    path: Path
    extra: Mapping[str, Path] = field(default_factory=dict)
    fingerprint: str = ""

    def all_paths(self) -> list[Path]:
        """The main path and every extra path."""
        return [self.path, *self.extra.values()]

    def size_bytes(self) -> int:
        """Total size on disk, folders included recursively."""
        total = 0
        for path in self.all_paths():
            if path.is_dir():
                total += sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
            elif path.exists():
                total += path.stat().st_size
        return total


class CancellationToken:
    """Set by the core when a request is cancelled (its awaiting task is cancelled).

    Long-running backends check :attr:`cancelled` (or call :meth:`raise_if_cancelled`)
    between steps, e.g. between generated tokens, and stop early.
    """

    def __init__(self) -> None:
        self._event = threading.Event()

    @property
    def cancelled(self) -> bool:
        """Whether cancellation was requested."""
        return self._event.is_set()

    def cancel(self) -> None:
        """Request cancellation."""
        self._event.set()

    def raise_if_cancelled(self) -> None:
        """Raise :class:`~altlas_sdk.errors.Cancelled` if cancellation was requested."""
        if self._event.is_set():
            raise Cancelled("request cancelled")


class LoadedModel(ABC):
    """A model in memory, ready to run.

    Subclasses set :attr:`device` to where the model really runs (read back from the
    library after loading, not assumed) and may set :attr:`version` to a model version;
    when left empty the core uses the files' fingerprint, so cache keys change with the
    weights.
    """

    device: Device = Device()
    version: str = ""

    def memory(self) -> MemoryEstimate | None:
        """Memory the model reports it holds, or ``None`` to let the core measure it."""
        return None

    def counters(self) -> Mapping[str, float]:
        """Monotonic counts the model keeps of its own work (a prompt cache's hits, the
        tokens it reused...), by name; ``/metrics`` exports each as
        ``altlas_model_counter_total{model, counter}``. The default: none."""
        return {}

    def host(self) -> HostInfo:
        """Where the model runs. The default: in this process, on the thread host;
        models a :class:`~altlas_sdk.hosts.ModelHost` returns say their own."""
        return HostInfo(kind="thread", pid=os.getpid())

    @abstractmethod
    def infer(
        self, task: str, inputs: Struct, parameters: Struct, cancel: CancellationToken
    ) -> Struct:
        """Run one input of ``task`` and return the task's output Struct.

        ``inputs`` and ``parameters`` are already validated instances of the task's
        types. Raise :class:`~altlas_sdk.errors.InvalidInput` for an input the model
        cannot take.
        """

    def infer_batch(
        self,
        task: str,
        inputs: Sequence[Struct],
        parameters: Struct,
        cancel: CancellationToken,
    ) -> list[Struct | AltlasError]:
        """Run several inputs of one task; one result per input, in order.

        A bad input fails only itself: its slot holds the error. The default runs
        :meth:`infer` per input; backends that batch natively override it. A
        :class:`~altlas_sdk.errors.ModelCrashed` fails the whole call: the model is gone.
        """
        results: list[Struct | AltlasError] = []
        for item in inputs:
            cancel.raise_if_cancelled()
            try:
                results.append(self.infer(task, item, parameters, cancel))
            except ModelCrashed:
                raise
            except AltlasError as error:
                results.append(error)
        return results

    def stream(
        self, task: str, inputs: Struct, parameters: Struct, cancel: CancellationToken
    ) -> Iterator[Struct]:
        """Yield output chunks as they are produced (e.g. tokens), for backends that can.

        The default refuses: not every backend streams.
        """
        raise BadRequest(f"this model does not stream task '{task}' output")

    def alive(self) -> bool:
        """Whether the model is still there to serve. A host whose models are shared
        by several API servers answers ``False`` once another server unloaded it: the
        core then drops it quietly (state ``available``, no crash) and loads it again
        on the next request. A crash is not reported here but by the next call
        (:class:`~altlas_sdk.errors.ModelCrashed`). The default: always ``True``."""
        return True

    def unload(self) -> None:  # noqa: B027 - optional hook, most backends free on GC
        """Release what :meth:`Backend.load` took, for every API server that shares the
        model (an explicit ``POST /api/models/{id}/unload``). The core drops its
        reference after."""

    def release(self) -> None:
        """Let go of the model on this API server only (its keep-alive ran out, it was
        evicted, the server shuts down): a host that shares models between servers
        keeps them for the others. The default: :meth:`unload`."""
        self.unload()


class BatchedModel(LoadedModel):
    """A loaded model whose natural call is a batch (it declares native batching).

    Subclasses implement :meth:`infer_batch` only: :meth:`infer` runs a batch of one
    and raises that input's error, so the two paths can never drift apart.
    """

    def infer(
        self, task: str, inputs: Struct, parameters: Struct, cancel: CancellationToken
    ) -> Struct:
        result = self.infer_batch(task, [inputs], parameters, cancel)[0]
        if isinstance(result, AltlasError):
            raise result
        return result

    @abstractmethod
    def infer_batch(
        self,
        task: str,
        inputs: Sequence[Struct],
        parameters: Struct,
        cancel: CancellationToken,
    ) -> list[Struct | AltlasError]:
        """Run several inputs of one task; one result (or error) per input, in order."""


class Backend(ABC):
    """A kind of model runtime (``onnx``, ``llama-cpp``...), registered by a plugin.

    Class attributes declare what the core needs to know before any model loads:

    - ``name``: the id catalog entries use in their ``backend`` field.
    - ``tasks``: the task ids this backend can serve.
    - ``native_batching``: whether :meth:`LoadedModel.infer_batch` runs a batch in one
      call, so that batched and coalesced requests can use it.
    - ``max_concurrency``: how many calls one loaded model takes at once (1 for
      libraries that are not thread-safe).
    - ``file_suffixes``: suffixes of files in MODEL_DIR this backend can serve on its own,
      so the catalog lists them without a configuration entry.
    """

    name: ClassVar[str]
    tasks: ClassVar[tuple[str, ...]]
    native_batching: ClassVar[bool] = False
    max_concurrency: ClassVar[int] = 1
    file_suffixes: ClassVar[tuple[str, ...]] = ()

    def discover(self, path: Path) -> str | None:
        """The task a file found in MODEL_DIR would serve, or ``None`` to ignore it.

        The default claims files with one of ``file_suffixes`` for the first task.
        """
        if self.file_suffixes and path.name.endswith(self.file_suffixes):
            return self.tasks[0]
        return None

    def estimate_memory(self, spec: ModelSpec, files: ModelFiles) -> MemoryEstimate:
        """Memory the model will take once loaded, estimated from its files before
        loading. The default is the files' size in RAM."""
        return MemoryEstimate(ram_bytes=files.size_bytes())

    @abstractmethod
    def load(self, spec: ModelSpec, files: ModelFiles, policy: DevicePolicy) -> LoadedModel:
        """Load the model on the best device ``policy`` allows and return it.

        ``spec.options`` holds the entry's backend-specific load options.
        """
