"""The API server's side of a model that runs in Ray actors.

:class:`RayLoadedModel` is the :class:`~altlas_sdk.LoadedModel` the core holds: each
call goes to the least busy replica (calls in flight counted here) as one actor call,
and waits for it with ``ray.wait`` in short steps, so that the request's cancellation
token reaches the backend's own token inside the actor (``ModelActor.cancel``) and a
dead actor answers :class:`~altlas_sdk.errors.ModelCrashed` at once instead of
blocking. The core's executor thread that holds the call's slot waits here, as it
waits on a backend in the thread host: the slot frees when the actor has returned.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import ray
from ray.exceptions import RayActorError, RayError, WorkerCrashedError

from altlas_ray.actor import CONTROL
from altlas_ray.codec import pack, unpack, unpack_result
from altlas_sdk import CancellationToken, Device, LoadedModel, MemoryEstimate
from altlas_sdk.errors import AltlasError, ModelCrashed
from altlas_sdk.hosts import HostInfo

#: How often a waiting call looks at its cancellation token, in seconds. ``ray.wait``
#: returns as soon as the result is there: this bounds only the cancellation's delay.
POLL_S = 0.05
#: How long a stream whose consumer went away waits for the backend to stop.
STREAM_STOP_S = 60.0
#: How long a control call (detach, a liveness ping) may take before the actor counts
#: as unresponsive.
RELEASE_TIMEOUT_S = 5.0


@dataclass
class Replica:
    """One actor of a model and the calls it has in flight from this server."""

    handle: Any
    name: str
    actor_id: str
    pid: int
    node: str
    in_flight: int = 0


class RayLoadedModel(LoadedModel):
    """A model loaded in one or more Ray actors (its replicas)."""

    def __init__(
        self,
        model_id: str,
        replicas: list[Replica],
        *,
        device: Device,
        version: str,
        memory: MemoryEstimate,
        holder: str,
        namespace: str,
    ) -> None:
        self.model_id = model_id
        self.holder = holder
        self.namespace = namespace
        self.replicas = replicas
        self.device = device
        self.version = version
        self._memory = memory
        self._lock = threading.Lock()
        self._turn = itertools.count()
        #: Why the model's actors are gone when someone else removed them (another API
        #: server's unload); ``None`` while they serve. Set by the host's watcher.
        self.gone: str | None = None
        self._unloaded = False

    # --- what the core reads ---------------------------------------------------------

    def memory(self) -> MemoryEstimate:
        """What loading added inside the actors' processes, over every replica."""
        return self._memory

    def host(self) -> HostInfo:
        """The Ray node and process of the first replica, and how many serve."""
        first = self.replicas[0]
        return HostInfo(kind="ray", node=first.node, pid=first.pid, replicas=len(self.replicas))

    def alive(self) -> bool:
        """Whether the model's actors still serve it: ``False`` once this server let go
        of it or another API server on the cluster unloaded it (a crash is reported by
        the next call instead)."""
        return self.gone is None and not self._unloaded

    # --- calls -----------------------------------------------------------------------

    def infer(
        self,
        task: str,
        inputs: msgspec.Struct,
        parameters: msgspec.Struct,
        cancel: CancellationToken,
    ) -> msgspec.Struct:
        packed_inputs, packed_parameters = pack(inputs), pack(parameters)
        with self._replica() as replica:
            call_id = uuid.uuid4().hex
            ref = replica.handle.infer.remote(call_id, task, packed_inputs, packed_parameters)
            return unpack(self._result(replica, ref, call_id, cancel))

    def infer_batch(
        self,
        task: str,
        inputs: Sequence[msgspec.Struct],
        parameters: msgspec.Struct,
        cancel: CancellationToken,
    ) -> list[msgspec.Struct | AltlasError]:
        # The coalesced or batched request is one actor call.
        packed_inputs = [pack(item) for item in inputs]
        packed_parameters = pack(parameters)
        with self._replica() as replica:
            call_id = uuid.uuid4().hex
            ref = replica.handle.infer_batch.remote(call_id, task, packed_inputs, packed_parameters)
            results = self._result(replica, ref, call_id, cancel)
        if isinstance(results, tuple):  # the whole batch failed
            return unpack(results)
        return [unpack_result(item) for item in results]

    def stream(
        self,
        task: str,
        inputs: msgspec.Struct,
        parameters: msgspec.Struct,
        cancel: CancellationToken,
    ) -> Iterator[msgspec.Struct]:
        packed_inputs, packed_parameters = pack(inputs), pack(parameters)
        with self._replica() as replica:
            call_id = uuid.uuid4().hex
            chunks = replica.handle.stream.options(num_returns="streaming").remote(
                call_id, task, packed_inputs, packed_parameters
            )
            finished = False
            try:
                while (ref := self._next_chunk(replica, chunks, call_id, cancel)) is not None:
                    yield unpack(self._get(replica, ref))
                finished = True
            finally:
                if not finished:
                    # The consumer went away (or a chunk failed): stop the backend and
                    # keep the slot until it has really stopped.
                    self._cancel(replica, call_id)
                    self._drain(replica, chunks)

    def unload(self) -> None:
        """Kill the model's actors, for every API server that shares them: they see
        it within a second (:meth:`alive`)."""
        self._unloaded = True
        for replica in self.replicas:
            _kill(replica)

    def release(self) -> None:
        """Let go of the model on this server only: the actors stay while another API
        server holds them, and are killed when this was the last holder (an idle
        model's keep-alive ran out, an eviction, a shutdown)."""
        self._unloaded = True
        for replica in self.replicas:
            detach = replica.handle.detach.options(concurrency_group=CONTROL)
            try:
                remaining = ray.get(detach.remote(self.holder), timeout=RELEASE_TIMEOUT_S)
            except RayError:
                remaining = 0  # dead or unresponsive: nothing worth keeping
            if remaining == 0:
                _kill(replica)

    def check_still_there(self) -> None:
        """Mark the model :attr:`gone` once another API server removed its actors
        (the host's watcher calls this every second). A replica whose name now points
        at another actor, or at none, was unloaded or has died; only an unload (the
        actor killed on purpose) counts here: a crash is the next call's to report."""
        if self.gone is not None or self._unloaded:
            return
        for replica in self.replicas:
            try:
                current = ray.get_actor(replica.name, namespace=self.namespace)
                if current._actor_id.hex() == replica.actor_id:
                    continue
            except ValueError:
                pass  # no actor by that name any more
            ping = replica.handle.rss.options(concurrency_group=CONTROL).remote()
            try:
                ray.get(ping, timeout=RELEASE_TIMEOUT_S)
            except RayError as error:
                if "killed by `ray.kill`" in str(error):
                    self.gone = "unloaded by another API server"
                    return

    # --- replicas and waiting --------------------------------------------------------

    def _replica(self) -> _Lease:
        """The least busy replica (fewest calls in flight from this server; ties in
        turn), held for one call."""
        with self._lock:
            turn = next(self._turn)
            count = len(self.replicas)
            replica = min(
                (self.replicas[(turn + i) % count] for i in range(count)),
                key=lambda r: r.in_flight,
            )
            replica.in_flight += 1
        return _Lease(self, replica)

    def _release(self, replica: Replica) -> None:
        with self._lock:
            replica.in_flight -= 1

    def _result(self, replica: Replica, ref: Any, call_id: str, cancel: CancellationToken) -> Any:
        """The call's packed result: waits in steps, passing a cancellation on to the
        actor once, until the actor returns or dies."""
        sent = False
        while not ray.wait([ref], timeout=POLL_S)[0]:
            if cancel.cancelled and not sent:
                self._cancel(replica, call_id)
                sent = True
        return self._get(replica, ref)

    def _next_chunk(
        self, replica: Replica, chunks: Any, call_id: str, cancel: CancellationToken
    ) -> Any | None:
        """The next chunk's object ref, or ``None`` at the end of the stream."""
        sent = False
        while not ray.wait([chunks], timeout=POLL_S)[0]:
            if cancel.cancelled and not sent:
                self._cancel(replica, call_id)
                sent = True
        try:
            return next(chunks)
        except StopIteration:
            return None
        except RayError as error:
            raise self._crashed(replica, error) from None

    def _get(self, replica: Replica, ref: Any) -> Any:
        try:
            return ray.get(ref)
        except (RayActorError, WorkerCrashedError) as error:
            raise self._crashed(replica, error) from None

    def _cancel(self, replica: Replica, call_id: str) -> None:
        try:
            replica.handle.cancel.options(concurrency_group=CONTROL).remote(call_id)
        except RayError:
            pass  # the actor is gone: nothing runs there to cancel

    def _drain(self, replica: Replica, chunks: Any) -> None:
        deadline = time.monotonic() + STREAM_STOP_S
        try:
            while time.monotonic() < deadline:
                if ray.wait([chunks], timeout=POLL_S)[0]:
                    ray.get(next(chunks))
        except (StopIteration, RayError):
            return

    def _crashed(self, replica: Replica, error: RayError) -> ModelCrashed:
        if "killed by `ray.kill`" in str(error) and not self._unloaded:
            return ModelCrashed(self.model_id, "unloaded by another API server")
        where = f"its Ray actor (pid {replica.pid}, node {replica.node[:12]}) died"
        return ModelCrashed(self.model_id, f"{where}: {death_reason(error)}")


def death_reason(error: RayError) -> str:
    """Ray's own words for why an actor's process ended, in one line."""
    text = str(error)
    for marker in ("Worker exit detail: ", "Worker exit type: "):
        if marker in text:
            return text.split(marker, 1)[1].split(". ", 1)[0].strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


class _Lease:
    """A replica held for one call: counted in flight until the block ends."""

    def __init__(self, model: RayLoadedModel, replica: Replica) -> None:
        self.model, self.replica = model, replica

    def __enter__(self) -> Replica:
        return self.replica

    def __exit__(self, *exc: object) -> None:
        self.model._release(self.replica)


def _kill(replica: Replica) -> None:
    try:
        ray.kill(replica.handle, no_restart=True)
    except (RayError, ValueError):
        pass  # already dead: what unloading wants
