"""Downloads shared by everyone who asks for the same file, with their progress.

A download runs in a thread of its own and is keyed by the file it writes: a second
pull of that file (or a load that needs it, or Ollama's ``/api/pull``) joins the one in
progress instead of starting another; all of them see the same progress and the same
outcome. The download goes on when a client that asked for it leaves: what it wrote
stays, and a later pull would resume it anyway.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import msgspec

from altlas.pull.disk import DiskBudget
from altlas.pull.transfer import download
from altlas_sdk.catalog import RemoteFile
from altlas_sdk.wire import ModelStatus


@dataclass(frozen=True)
class Snapshot:
    """A download's progress at one moment."""

    done: int
    total: int | None
    finished: bool


class Transfer:
    """One file being downloaded."""

    def __init__(self, remote: RemoteFile, target: Path, sha256: str | None) -> None:
        self.remote = remote
        self.target = target
        self.sha256 = sha256
        self.done = 0
        self.total: int | None = None
        self.error: BaseException | None = None
        self.finished = False
        self._changed = threading.Condition()
        # Apart from _changed, so that waiting for the end is not woken by each chunk.
        self._ended = threading.Event()

    # --- written by the download's thread ----------------------------------------

    def started(self, done: int, total: int | None) -> None:
        with self._changed:
            self.done, self.total = done, total
            self._changed.notify_all()

    def advanced(self, count: int) -> None:
        with self._changed:
            self.done += count
            self._changed.notify_all()

    def finish(self, error: BaseException | None) -> None:
        with self._changed:
            self.error, self.finished = error, True
            if error is None and self.total is None:
                self.total = self.done
            self._changed.notify_all()
        self._ended.set()

    # --- read by anyone ----------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """The progress now."""
        with self._changed:
            return Snapshot(self.done, self.total, self.finished)

    def wait(self, seen: Snapshot | None, timeout: float) -> Snapshot:
        """The progress once it differs from ``seen`` (or ``timeout`` seconds passed)."""
        with self._changed:
            self._changed.wait_for(
                lambda: (
                    self.finished
                    or seen is None
                    or (self.done, self.total) != (seen.done, seen.total)
                ),
                timeout,
            )
            return Snapshot(self.done, self.total, self.finished)

    def result(self) -> Path:
        """Wait for the end; the file's path, or the download's error raised."""
        self._ended.wait()
        if self.error is not None:
            raise self.error
        return self.target


class Downloads:
    """The downloads in progress, by target file, within one disk budget."""

    def __init__(self, budget: DiskBudget) -> None:
        self.budget = budget
        self._running: dict[Path, Transfer] = {}
        self._lock = threading.Lock()
        #: Downloads started (not joined), for tests and metrics.
        self.started = 0

    def start(self, remote: RemoteFile, target: Path, sha256: str | None = None) -> Transfer:
        """The download of ``remote`` to ``target``: the one in progress, or a new one."""
        with self._lock:
            transfer = self._running.get(target)
            if transfer is None:
                transfer = self._running[target] = Transfer(remote, target, sha256)
                self.started += 1
                threading.Thread(
                    target=self._run, args=(transfer,), name=f"download {target.name}", daemon=True
                ).start()
            return transfer

    def active(self) -> bool:
        """Whether any download is in progress."""
        return bool(self._running)

    def running(self, target: Path) -> Transfer | None:
        """The download of ``target`` in progress, if any."""
        with self._lock:
            return self._running.get(target)

    def _run(self, transfer: Transfer) -> None:
        error: BaseException | None = None
        try:
            download(
                transfer.remote,
                transfer.target,
                sha256=transfer.sha256,
                progress=transfer,
                room=lambda need: self._room(transfer, need),
            )
        except BaseException as failure:  # noqa: BLE001 - handed to every waiter
            error = failure
        finally:
            with self._lock:
                self._running.pop(transfer.target, None)
            transfer.finish(error)

    def _room(self, transfer: Transfer, need: int) -> None:
        with self._lock:
            others = [t for t in self._running.values() if t is not transfer]
        pending = sum(max(0, (t.total or 0) - t.done) for t in others)
        self.budget.check(transfer.target, need, pending)


#: States a download in progress stands in for: the model is not in memory yet.
_SHOWN_AS_DOWNLOADING = frozenset({"available", "loading"})


def with_download(status: ModelStatus, progress: tuple[int, int | None] | None) -> ModelStatus:
    """``status`` as ``downloading``, with bytes done and in all, while ``progress``
    (:meth:`~altlas.model_files.ModelFilesResolver.downloading`) says a file of the
    model is downloading and the model is not loaded."""
    if progress is None or status.state not in _SHOWN_AS_DOWNLOADING:
        return status
    done, total = progress
    return msgspec.structs.replace(
        status, state="downloading", downloaded_bytes=done, download_total_bytes=total
    )
