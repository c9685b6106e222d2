"""The actor that holds one replica of a model, inside a Ray worker process.

The backend's own code runs here unchanged: the :class:`~altlas_sdk.Backend` object
arrives pickled by reference to its installed plugin module, and ``backend.load`` runs
in :meth:`ModelActor.load` exactly as the thread host runs it in the API server. A
native crash (a segfault, ``abort()``, the OOM killer) ends this process only; the API
server sees the actor die and answers the requests it had in flight.

The actor is threaded: its default concurrency group runs as many calls at once as
the model takes (``Backend.max_concurrency``), and a separate ``control`` group keeps
:meth:`cancel`, :meth:`describe` and :meth:`rss` answering while every inference slot
is busy. This module imports no Ray: ``host.py`` wraps :class:`ModelActor` with
``ray.remote`` when the host starts.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from altlas_ray.codec import pack, pack_error, unpack
from altlas_sdk import (
    Backend,
    CancellationToken,
    DevicePolicy,
    LoadedModel,
    MemoryEstimate,
    ModelFiles,
    ModelSpec,
)

#: The concurrency group of the calls that must answer while inference slots are busy,
#: and its threads.
CONTROL = "control"
CONTROL_THREADS = 2


def _rss() -> int:
    import psutil

    return psutil.Process().memory_info().rss


def _gpu_bytes() -> int:
    """GPU memory this process holds on every GPU, as NVML reports it; 0 without an
    NVIDIA driver (or without ``nvidia-ml-py``)."""
    try:
        import pynvml

        pynvml.nvmlInit()
        pid, total = os.getpid(), 0
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            for process in pynvml.nvmlDeviceGetComputeRunningProcesses(handle):
                if process.pid == pid:
                    total += process.usedGpuMemory or 0
        return total
    except Exception:  # noqa: BLE001 - ImportError, NVMLError, OSError alike: no figure
        return 0


def _crossable_error(error: BaseException) -> tuple[Any, ...]:
    """The packed error, or a plain ``RuntimeError`` naming it when its attributes
    cannot be pickled (a backend exception holding a lock or a native handle)."""
    from ray import cloudpickle

    packed = pack_error(error)
    try:
        cloudpickle.dumps(packed)
    except Exception:  # noqa: BLE001 - any pickling failure falls back the same way
        return pack_error(RuntimeError(f"{type(error).__name__}: {error}"))
    return packed


class ModelActor:
    """One replica of one model: loads it, runs its calls, cancels them on request."""

    def __init__(self, threads: float | None = None) -> None:
        # Ray forces OMP_NUM_THREADS=1 in an actor that reserves no CPU, which would
        # silently run torch models on one thread: a replica without a CPU placement
        # gets the library's default (every core), one with ``placement: {"CPU": n}``
        # keeps Ray's n.
        if threads is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        self._model: LoadedModel | None = None
        self._loaded = MemoryEstimate()
        self._load_lock = threading.Lock()
        self._tokens: dict[str, CancellationToken] = {}
        self._tokens_lock = threading.Lock()
        #: Loads this actor ran (1 once loaded; a second API server never adds one).
        self.loads = 0
        #: Calls this replica ran (a batch counts once).
        self.calls = 0
        #: The API servers that hold this model (see ``RayLoadedModel.release``).
        self._holders: set[str] = set()

    # --- control ---------------------------------------------------------------------

    def load(
        self,
        backend: Backend,
        spec: ModelSpec,
        files: ModelFiles,
        policy: DevicePolicy,
        holder: str,
    ) -> tuple[Any, ...]:
        """Load the model unless this actor already holds it (a second API server
        joining the same actor), count ``holder`` (that server) among its holders, and
        describe it; a failed load returns the packed error, and the actor stays empty."""
        with self._load_lock:
            self._holders.add(holder)
            if self._model is None:
                try:
                    before, gpu_before = _rss(), _gpu_bytes()
                    model = backend.load(spec, files, policy)
                    measured = MemoryEstimate(
                        ram_bytes=max(0, _rss() - before),
                        gpu_bytes=max(0, _gpu_bytes() - gpu_before),
                    )
                except Exception as error:  # noqa: BLE001 - returned to the server
                    return _crossable_error(error)
                self._model = model
                self._loaded = model.memory() or measured
                self.loads += 1
        return pack(self.describe())

    def describe(self) -> dict[str, Any]:
        """Where this replica runs and what its model took: pid, node, device, the
        memory its load added, the model's version, how many loads it ran, how many
        API servers hold it, how many calls it ran and how many run now."""
        import ray

        model = self._model
        device = model.device if model is not None else None
        return {
            "pid": os.getpid(),
            "node": ray.get_runtime_context().get_node_id(),
            "device": (device.kind, device.index) if device is not None else ("cpu", 0),
            "version": model.version if model is not None else "",
            "ram_bytes": self._loaded.ram_bytes,
            "gpu_bytes": self._loaded.gpu_bytes,
            "loads": self.loads,
            "holders": len(self._holders),
            "running": len(self._tokens),
            "calls": self.calls,
        }

    def rss(self) -> int:
        """The resident memory of this actor's whole process, in bytes."""
        return _rss()

    def cancel(self, call_id: str) -> bool:
        """Set the cancellation token of the running call ``call_id``; whether it runs."""
        with self._tokens_lock:
            token = self._tokens.get(call_id)
        if token is None:
            return False
        token.cancel()
        return True

    def detach(self, holder: str) -> int:
        """``holder`` lets go of the model; how many API servers still hold it."""
        with self._load_lock:
            self._holders.discard(holder)
            return len(self._holders)

    # --- calls -----------------------------------------------------------------------

    @contextmanager
    def _call(self, call_id: str) -> Iterator[tuple[LoadedModel, CancellationToken]]:
        if self._model is None:
            raise RuntimeError("this actor holds no model: it was unloaded")
        token = CancellationToken()
        with self._tokens_lock:
            self._tokens[call_id] = token
            self.calls += 1
        try:
            yield self._model, token
        finally:
            with self._tokens_lock:
                self._tokens.pop(call_id, None)

    def infer(
        self, call_id: str, task: str, inputs: tuple[Any, ...], parameters: tuple[Any, ...]
    ) -> tuple[Any, ...]:
        """``LoadedModel.infer``; the output, or the error it raised, packed."""
        try:
            with self._call(call_id) as (model, token):
                return pack(model.infer(task, unpack(inputs), unpack(parameters), token))
        except Exception as error:  # noqa: BLE001 - raised again in the API server
            return _crossable_error(error)

    def infer_batch(
        self,
        call_id: str,
        task: str,
        inputs: Sequence[tuple[Any, ...]],
        parameters: tuple[Any, ...],
    ) -> tuple[Any, ...] | list[tuple[Any, ...]]:
        """``LoadedModel.infer_batch``: one packed result or error per input, or the
        packed error that failed the whole batch."""
        try:
            with self._call(call_id) as (model, token):
                results = model.infer_batch(
                    task, [unpack(item) for item in inputs], unpack(parameters), token
                )
        except Exception as error:  # noqa: BLE001 - raised again in the API server
            return _crossable_error(error)
        return [
            _crossable_error(result) if isinstance(result, BaseException) else pack(result)
            for result in results
        ]

    def stream(
        self, call_id: str, task: str, inputs: tuple[Any, ...], parameters: tuple[Any, ...]
    ) -> Iterator[tuple[Any, ...]]:
        """``LoadedModel.stream`` as a Ray streaming generator: each chunk packed; an
        error ends the stream as its last item."""
        try:
            with self._call(call_id) as (model, token):
                chunks = model.stream(task, unpack(inputs), unpack(parameters), token)
                try:
                    for chunk in chunks:
                        yield pack(chunk)
                        if token.cancelled:
                            return
                finally:
                    close = getattr(chunks, "close", None)
                    if close is not None:
                        close()
        except Exception as error:  # noqa: BLE001 - raised again in the API server
            yield _crossable_error(error)
