"""Dynamic batching: concurrent requests for one model coalesced into one backend call.

Requests for the same loaded model, task and parameters join an *open batch*. The batch
waits up to ``max_wait_ms`` for more requests (none by default), then takes its place in
the model's scheduler lane like any other call, and keeps taking requests while it waits
there. It closes when the lane grants it a slot (or when it holds ``max_batch_size``
requests) and runs as one :meth:`~altlas_sdk.LoadedModel.infer_batch` call. So an idle
model answers a lone request at once, while a busy one runs, next, everything that
queued behind its current call: the batch grows with the load, with no fixed window.

A batch is one call of the lane: the lane's concurrency, ``max_queue``, ``QUEUE_TIMEOUT``
and ``Retry-After`` apply to it as to any call, and its refusal refuses its requests.
Each request gets its own result (one bad input fails only its own request) and its
own timing. A request whose caller goes away while its batch is open leaves it; a
batch every caller has left leaves the lane, or, when already running, has its
cancellation token set.

Only models whose backend declares ``native_batching`` batch, and only with an
effective ``max_batch_size`` above 1 (the catalog entry's, else ``MAX_BATCH_SIZE``).

A batch decodes all its inputs at once, so images are budgeted: a request whose image
would take the batch's decoded pixels (read from each image's header before anything is
decoded) over ``MAX_BATCH_PIXELS`` closes the batch and opens the next. A batch that
decoded many pixels hands the freed memory back to the system when it ends.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import msgspec

from altlas.inference.decode import TaskCall
from altlas.memory import release_freed_memory
from altlas.metrics import Metrics
from altlas.registry import Registry
from altlas.scheduler import Lane, Scheduler, Timed
from altlas_sdk import CancellationToken, LoadedModel, ModelSpec
from altlas_sdk.errors import AltlasError, InternalError, Overloaded

logger = logging.getLogger(__name__)

_BatchKey = tuple[str, int, str, bytes]

#: After a batch that decoded more pixels than this (about 64 MB as RGBA), freed heap
#: pages go back to the system: glibc would keep them, and the process's RSS with them.
RELEASE_AFTER_PIXELS = 16_000_000


@dataclass(frozen=True)
class BatchLimits:
    """How one model batches: at most ``size`` inputs per call, and how long an open
    batch waits for more before it queues for a slot."""

    size: int
    wait_s: float


@dataclass(eq=False)
class _Member:
    """One request in a batch: its inputs, when it arrived, and where its result goes."""

    inputs: msgspec.Struct
    arrived: float
    #: Pixels its input decodes to (0 without images).
    pixels: int
    #: The member's output (or its slot's error) and its batch's run time in ms.
    result: asyncio.Future[tuple[object, float]]


@dataclass(eq=False)
class _Batch:
    """Requests that will run as one ``infer_batch`` call."""

    key: _BatchKey
    spec: ModelSpec
    model: LoadedModel
    call: TaskCall
    limits: BatchLimits
    lane: Lane
    max_queue: int
    members: list[_Member] = field(default_factory=list)
    #: Pixels its members' inputs decode to, together.
    pixels: int = 0
    #: Whether the batch waits in its lane (a member joining it now waits too).
    in_lane: bool = False
    #: Members counted in ``lane.queued`` besides the batch's own entry.
    counted: int = 0
    started: float = 0.0
    cancel: CancellationToken = field(default_factory=CancellationToken)
    full: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class Coalescer:
    """Coalesces concurrent requests into batches (see the module docstring)."""

    def __init__(
        self,
        scheduler: Scheduler,
        registry: Registry,
        *,
        max_batch_size: int,
        max_wait_ms: float,
        max_batch_pixels: int = 0,
        metrics: Metrics | None = None,
    ) -> None:
        self.scheduler = scheduler
        self.registry = registry
        self.max_batch_size = max_batch_size
        self.max_wait_ms = max_wait_ms
        #: ``MAX_BATCH_PIXELS``: decoded pixels one batch may hold (0: no budget).
        self.max_batch_pixels = max_batch_pixels
        self.metrics = metrics
        self._open: dict[_BatchKey, _Batch] = {}
        # The event loop keeps only weak references to tasks.
        self._tasks: set[asyncio.Task[None]] = set()

    def limits(self, spec: ModelSpec) -> BatchLimits | None:
        """How ``spec``'s model batches, or ``None`` when its requests run one by one:
        its backend does not batch natively, or its effective ``max_batch_size`` is 1."""
        if not self.registry.batches_natively(spec):
            return None
        size = spec.max_batch_size if spec.max_batch_size is not None else self.max_batch_size
        if size <= 1:
            return None
        wait_ms = spec.max_wait_ms if spec.max_wait_ms is not None else self.max_wait_ms
        return BatchLimits(size=size, wait_s=wait_ms / 1000)

    async def run(
        self, spec: ModelSpec, model: LoadedModel, call: TaskCall, limits: BatchLimits
    ) -> Timed[object]:
        """Run ``call`` on ``model`` as part of a batch; its own output (or error), with
        its own queue time and its batch's run time. Raises
        :class:`~altlas_sdk.errors.Overloaded` when the model's queue is full. The
        caller holds ``manager.use(spec.id)``."""
        loop = asyncio.get_running_loop()
        key = (spec.id, id(model), call.spec.id, msgspec.json.encode(call.parameters))
        measure = call.spec.decoded_pixels
        pixels = measure(call.inputs) if measure is not None else 0
        batch = self._open.get(key)
        if batch is not None and self._over_budget(batch, pixels):
            self._close(batch)
            batch.full.set()
            batch = None
        if batch is None:
            batch = self._open[key] = self._new_batch(key, spec, model, call, limits)
        elif batch.in_lane:
            self._count_waiting(batch)
        member = _Member(call.inputs, time.perf_counter(), pixels, loop.create_future())
        batch.members.append(member)
        batch.pixels += pixels
        if len(batch.members) >= limits.size:
            self._close(batch)
            batch.full.set()
        try:
            value, inference_ms = await member.result
        except asyncio.CancelledError:
            self._leave(batch, member)
            raise
        return Timed(value, (batch.started - member.arrived) * 1000, inference_ms)

    def _over_budget(self, batch: _Batch, pixels: int) -> bool:
        """Whether an input of ``pixels`` would take ``batch`` over ``MAX_BATCH_PIXELS``
        (a batch always takes its first input: the per-image limit bounds that one)."""
        budget = self.max_batch_pixels
        return bool(budget and batch.members and batch.pixels + pixels > budget)

    def _new_batch(
        self,
        key: _BatchKey,
        spec: ModelSpec,
        model: LoadedModel,
        call: TaskCall,
        limits: BatchLimits,
    ) -> _Batch:
        lane = self.scheduler.lane(spec.id, self.registry.concurrency(spec))
        max_queue = self.scheduler.max_queue if spec.max_queue is None else spec.max_queue
        batch = _Batch(key, spec, model, call, limits, lane, max_queue)
        batch.task = asyncio.get_running_loop().create_task(self._run_batch(batch))
        self._tasks.add(batch.task)
        batch.task.add_done_callback(self._tasks.discard)
        return batch

    def _count_waiting(self, batch: _Batch) -> None:
        """A request joins a batch that waits for a slot: it waits too, so it counts
        against ``max_queue`` like any queued call (one request, one queue place)."""
        lane = batch.lane
        if lane.queued >= batch.max_queue:
            raise Overloaded(
                f"model '{batch.spec.id}' is busy: {lane.queued} request(s) already queued "
                f"(max_queue {batch.max_queue})",
                retry_after=lane.retry_after(),
            )
        lane.queued += 1
        batch.counted += 1

    def _uncount(self, batch: _Batch, count: int) -> None:
        batch.lane.queued -= count
        batch.counted -= count

    def _close(self, batch: _Batch) -> None:
        """Take no more members: later requests open a new batch."""
        if self._open.get(batch.key) is batch:
            del self._open[batch.key]

    def _leave(self, batch: _Batch, member: _Member) -> None:
        """A member's caller went away: drop it while the batch waits; a batch left
        empty leaves the lane, a running one left by everyone is asked to stop."""
        member.result.cancel()
        if batch.started:
            if all(m.result.cancelled() for m in batch.members):
                batch.cancel.cancel()
            return
        if member not in batch.members:
            return  # already refused (``max_queue``) when its batch entered the lane
        batch.members.remove(member)
        batch.pixels -= member.pixels
        if batch.counted:
            self._uncount(batch, 1)
        if not batch.members:
            self._close(batch)
            if batch.task is not None:
                batch.task.cancel()

    async def _run_batch(self, batch: _Batch) -> None:
        try:
            if batch.limits.wait_s > 0 and not batch.full.is_set():
                try:
                    await asyncio.wait_for(batch.full.wait(), batch.limits.wait_s)
                except asyncio.TimeoutError:  # a builtin TimeoutError only from 3.11
                    pass
            self._enter_lane(batch)
            timed = await self.scheduler.run(
                batch.spec.id,
                batch.lane.concurrency,
                lambda cancel: self._infer(batch, cancel),
                batch.cancel,
                max_queue=batch.max_queue,
                on_slot=lambda: self._start(batch),
            )
        except asyncio.CancelledError:
            self._close(batch)  # every member left
            self._uncount(batch, batch.counted)
            raise
        except Exception as error:  # noqa: BLE001 - every member gets the failure
            self._close(batch)
            self._uncount(batch, batch.counted)
            self._fail(batch.members, batch, error)
            return
        self._deliver(batch, timed)

    def _enter_lane(self, batch: _Batch) -> None:
        """The batch queues for a slot. If it will wait, the members that joined it
        before (during ``max_wait_ms``) wait too: they count against ``max_queue``, and
        those beyond it are refused, as lone requests would be."""
        batch.in_lane = True
        lane = batch.lane
        if lane.running < lane.concurrency and not lane.queued:
            return  # a slot is free: the batch runs at once
        if lane.queued >= batch.max_queue:
            return  # the lane refuses the batch, members and all
        # The lane counts the batch itself as one queued call; the others need a
        # place each.
        room = batch.max_queue - lane.queued - 1
        refused = batch.members[1 + room :]
        if refused:
            self._fail(
                refused,
                batch,
                Overloaded(
                    f"model '{batch.spec.id}' is busy: {lane.queued + 1 + room} request(s) "
                    f"already queued (max_queue {batch.max_queue})",
                    retry_after=lane.retry_after(),
                ),
            )
            del batch.members[1 + room :]
        waiting = len(batch.members) - 1
        lane.queued += waiting
        batch.counted += waiting

    def _start(self, batch: _Batch) -> None:
        """The lane granted a slot: the batch closes with the members it has now."""
        self._close(batch)
        self._uncount(batch, batch.counted)
        batch.started = time.perf_counter()
        if self.metrics is not None:
            self.metrics.batch_size.observe(len(batch.members), batch.spec.id)

    def _infer(self, batch: _Batch, cancel: CancellationToken) -> list[object]:
        """The backend call, in the executor, on the members the batch closed with."""
        inputs = [member.inputs for member in batch.members]
        if not inputs:
            return []
        call = batch.call
        try:
            results = batch.model.infer_batch(call.spec.id, inputs, call.parameters, cancel)
        finally:
            if batch.pixels > RELEASE_AFTER_PIXELS:
                release_freed_memory()
        if len(results) != len(inputs):
            raise InternalError.logged(
                logger,
                "backend %s returned %d results for %d inputs",
                batch.spec.backend,
                len(results),
                len(inputs),
            )
        return list(results)

    def _deliver(self, batch: _Batch, timed: Timed[list[object]]) -> None:
        for member, value in zip(batch.members, timed.value, strict=True):
            if member.result.done():
                continue
            if isinstance(value, AltlasError):
                member.result.set_exception(value)
            else:
                member.result.set_result((value, timed.inference_ms))

    def _fail(self, members: list[_Member], batch: _Batch, error: BaseException) -> None:
        """Give ``members`` the batch's failure: an :class:`AltlasError` as it is,
        anything else as one logged internal error (as a lone request's unexpected
        failure renders)."""
        if not isinstance(error, AltlasError):
            error = InternalError.logged(
                logger,
                "batch of %d on model %s failed",
                len(members),
                batch.spec.id,
                exc_info=error,
            )
        for member in members:
            if not member.result.done():
                member.result.set_exception(error)
