"""Idle unloading: a model nobody used for its ``keep_alive`` seconds leaves memory.

``keep_alive`` counts from the end of the model's last request. A pinned model, or
one with requests in flight or queued, never expires; ``0`` unloads right after the
request, a negative value never. Expired models are found by a reaper that looks
every half second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping

from altlas.model_state import ModelSlot

logger = logging.getLogger(__name__)


class KeepAlive:
    """Schedules and carries out the idle unloads of the models in ``slots``.

    ``keep_alive_of`` gives a model's ``keep_alive`` in seconds; ``unload`` unloads a
    model and is called holding ``room``, the lock under which the model manager makes
    its budget decisions, so that an unload never races a load making room.
    """

    #: Seconds between two passes of the reaper.
    interval = 0.5

    def __init__(
        self,
        slots: Mapping[str, ModelSlot],
        keep_alive_of: Callable[[str], float],
        room: asyncio.Lock,
        unload: Callable[[str], Awaitable[None]],
    ) -> None:
        self._slots = slots
        self._keep_alive_of = keep_alive_of
        self._room = room
        self._unload = unload
        self._reaper: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def schedule(self, model_id: str) -> None:
        """Set (or clear) when ``model_id`` expires, now that it may have become idle;
        with ``keep_alive`` 0, unload it at once."""
        slot = self._slots[model_id]
        if slot.model is None or slot.pinned or slot.in_flight:
            slot.expires_at = None
            return
        keep_alive = self._keep_alive_of(model_id)
        if keep_alive < 0:
            slot.expires_at = None
            return
        slot.expires_at = time.time() + keep_alive
        if keep_alive == 0:
            # "Unload right after the request": no need to wait for the reaper.
            self._spawn(self._unload_if_expired(model_id))

    async def reap(self) -> None:
        """Unload every model whose ``keep_alive`` ran out (the reaper's one pass)."""
        for model_id in list(self._slots):
            await self._unload_if_expired(model_id)

    def start(self) -> None:
        """Start the reaper."""
        if self._reaper is None:
            self._reaper = asyncio.ensure_future(self._reap_forever())

    async def stop(self) -> None:
        """Stop the reaper and any unload scheduled but not yet done."""
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
            self._reaper = None
        for task in list(self._tasks):
            task.cancel()

    async def _unload_if_expired(self, model_id: str) -> None:
        slot = self._slots[model_id]
        expires_at = slot.expires_at
        if expires_at is None or slot.model is None or slot.in_flight or slot.pinned:
            return
        if expires_at <= time.time():
            async with self._room:
                # Re-checked under the lock: a request may have started meanwhile.
                if slot.expires_at == expires_at and not slot.in_flight and slot.model:
                    await self._unload(model_id)

    def _spawn(self, coroutine: Coroutine[object, object, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.reap()
            except Exception:
                logger.exception("unloading idle models failed")
