"""One file's download: resumed after a dropped connection, verified, renamed into place.

The bytes go to ``<target>.part`` next to the target; a connection that drops (or a
server error, or a process that stopped) leaves them there, and the next attempt asks
for the rest with an HTTP ``Range`` header. Once every byte is there the file's SHA-256
(hashed as the bytes arrive) is checked against the expected one (the catalog entry's
``sha256``, else the hub's ``X-Linked-Etag``), and only then is the part renamed to the
target: a file at the target is always complete. The part file is locked (``flock``)
while it is written, so two processes that pull the same file (``altlas pull`` beside a
running server) take turns rather than interleave their bytes.

The standard library's ``urllib`` does the HTTP: a download is one GET (after one
``HEAD`` for the announced size and digest), and the core carries no HTTP client of its
own.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from altlas_sdk.catalog import RemoteFile
from altlas_sdk.errors import WeightsMissing

try:  # POSIX; elsewhere two processes must not pull the same file at once
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

TIMEOUT_S = 60
#: Attempts at one file before the pull fails; each resumes where the last one stopped.
ATTEMPTS = 5
_CHUNK = 1 << 18
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ChecksumMismatch(WeightsMissing):
    """The downloaded bytes are not the ones the catalog entry (or the hub) names; the
    partial file is removed, so the next pull starts over."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.code = "checksum_mismatch"


class Progress(Protocol):
    """What a download reports as it goes."""

    def started(self, done: int, total: int | None) -> None:
        """A request began with ``done`` bytes already on disk, of ``total``."""

    def advanced(self, count: int) -> None:
        """``count`` more bytes were written."""


class _Silent:
    def started(self, done: int, total: int | None) -> None:
        pass

    def advanced(self, count: int) -> None:
        pass


@dataclass(frozen=True)
class Metadata:
    """What a server says about a file before sending it."""

    size: int | None = None
    sha256: str | None = None


class _Dropped(Exception):
    """The transfer stopped before its end; another attempt resumes it."""


def part_path(target: Path) -> Path:
    """Where ``target``'s bytes collect until they are complete and verified."""
    return target.with_name(target.name + ".part")


def metadata(remote: RemoteFile) -> Metadata:
    """The file's size and SHA-256 as the server announces them to a ``HEAD`` request,
    redirects not followed: the Hugging Face hub answers ``X-Linked-Size`` and
    ``X-Linked-Etag`` (the SHA-256 of a file stored with LFS) before it redirects to
    its CDN. Nothing when the server says nothing or refuses ``HEAD``."""
    request = urllib.request.Request(
        remote.url, headers={**remote.headers, "Accept-Encoding": "identity"}, method="HEAD"
    )
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=TIMEOUT_S) as response:
            headers = response.headers
    except urllib.error.HTTPError as error:
        headers = error.headers
        error.close()
        if not 300 <= error.code < 400:
            return Metadata()
    except (urllib.error.URLError, OSError, ValueError):
        return Metadata()
    size = headers.get("X-Linked-Size") or headers.get("Content-Length")
    tag = (headers.get("X-Linked-Etag") or headers.get("ETag") or "").strip()
    tag = tag.removeprefix("W/").strip('"').lower()
    return Metadata(
        size=int(size) if size and size.isdigit() else None,
        sha256=tag if _SHA256.match(tag) else None,
    )


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


class _Part:
    """The part file being written, and the SHA-256 of what it holds so far (hashed
    as the bytes arrive: the file is never read back to verify it)."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()
        handle.seek(0)
        while block := handle.read(1 << 20):  # what an earlier attempt left
            self.digest.update(block)

    def size(self) -> int:
        return self.handle.tell()

    def write(self, chunk: bytes) -> None:
        self.handle.write(chunk)
        self.digest.update(chunk)

    def restart(self) -> None:
        self.handle.seek(0)
        self.handle.truncate()
        self.digest = hashlib.sha256()


def download(
    remote: RemoteFile,
    target: Path,
    *,
    sha256: str | None = None,
    progress: Progress | None = None,
    room: Callable[[int], None] | None = None,
) -> Path:
    """Download ``remote`` to ``target`` (resuming a part file left by an earlier
    attempt) and return ``target``. ``sha256``: the expected digest (else the hub's, if
    it says); ``room(n)`` is called before ``n`` more bytes are written and raises when
    they may not be (the disk budget). Raises :class:`ChecksumMismatch`, or
    ``WeightsMissing`` when the file cannot be downloaded after :data:`ATTEMPTS`."""
    progress = progress or _Silent()
    target.parent.mkdir(parents=True, exist_ok=True)
    path = part_path(target)
    with path.open("a+b") as handle:
        _lock(handle)  # another process on the same file: wait for it
        if target.exists():
            return target  # it finished the file while this one waited
        part = _Part(handle)  # what it wrote before it stopped counts
        expected = sha256.lower() if sha256 else None
        if expected is None or room is not None:
            announced = metadata(remote)
            expected = expected or announced.sha256
            if room is not None and announced.size is not None:
                room(max(0, announced.size - part.size()))
        for attempt in range(1, ATTEMPTS + 1):
            try:
                _get(remote, part, progress, room)
                break
            except _Dropped as error:
                if attempt == ATTEMPTS:
                    raise WeightsMissing(
                        f"could not download {remote.url}: {error} ({ATTEMPTS} attempts)"
                    ) from None
                logger.warning("download of %s stopped (%s); resuming", remote.url, error)
                time.sleep(min(0.2 * 2**attempt, 5.0))
        got = part.digest.hexdigest()
        if expected is not None and got != expected:
            path.unlink(missing_ok=True)
            raise ChecksumMismatch(
                f"the file downloaded from {remote.url} has SHA-256 {got}, not the "
                f"expected {expected}; it was not kept"
            )
        os.replace(path, target)
    return target


def _lock(handle: IO[bytes]) -> None:
    if fcntl is not None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)


def _get(
    remote: RemoteFile,
    part: _Part,
    progress: Progress,
    room: Callable[[int], None] | None,
) -> None:
    """One GET from where the part file ends; raises :class:`_Dropped` to retry."""
    offset = part.size()
    headers = {**remote.headers, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = urllib.request.urlopen(
            urllib.request.Request(remote.url, headers=headers), timeout=TIMEOUT_S
        )
    except urllib.error.HTTPError as error:
        error.close()
        if error.code == 416 and offset:
            return  # every byte is there already: the checksum decides
        if error.code >= 500 or error.code == 429:
            raise _Dropped(f"HTTP {error.code}") from None
        raise WeightsMissing(f"could not download {remote.url}: HTTP {error.code}") from None
    except (urllib.error.URLError, OSError) as error:
        raise _Dropped(str(getattr(error, "reason", error))) from None
    with response:
        if offset and response.status != 206:
            part.restart()  # the server ignored the Range: the file starts over
            offset = 0
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length and length.isdigit() else None
        progress.started(offset, total)
        if room is not None and total is not None:
            room(total - offset)
        try:
            while chunk := response.read(_CHUNK):
                part.write(chunk)
                progress.advanced(len(chunk))
        except (http.client.HTTPException, OSError) as error:
            raise _Dropped(type(error).__name__) from None
        finally:
            part.handle.flush()
    if total is not None and part.size() < total:
        raise _Dropped(f"connection closed at byte {part.size()} of {total}")
