"""A pull: make a catalog model's files (or one source reference's file) local ahead
of time, without loading anything, reporting each file's progress.

``what`` is a catalog model id, or a reference of a downloading source (``hf:...``,
``https://...``) that no entry names yet: its file lands where that source keeps it, so
an entry added later with the same reference finds it there. Files already local are
reported as ``present``; a file no source can download and nobody has put in place is
refused (409 ``weights_missing``) before anything is fetched.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Literal

from msgspec import Struct

from altlas.catalog import Catalog
from altlas.model_files import FILE_SCHEME, ModelFilesResolver
from altlas.pull.downloads import Snapshot, Transfer
from altlas_sdk import ModelSpec
from altlas_sdk.errors import ModelNotFound, WeightsMissing

#: Seconds between two progress reports of one file.
REPORT_EVERY_S = 0.1

PullStatus = Literal["pulling", "present", "downloading", "downloaded", "success"]


class PullRequest(Struct, kw_only=True, forbid_unknown_fields=True):
    """``POST /api/models/pull``: ``model`` is a catalog model id or a source reference
    (``hf:<org>/<repo>/<path>``, ``https://...``); ``stream: false`` answers once, with
    the last event, when every file is local."""

    model: str
    stream: bool = True


class PullEvent(Struct, kw_only=True, omit_defaults=True):
    """One event of a pull. ``pulling`` first (``files``: how many), then per file
    ``present`` (already local) or ``downloading`` (repeated, with ``completed`` and
    ``total`` bytes; ``total`` absent while unknown) then ``downloaded``; ``success``
    last."""

    status: PullStatus
    model: str
    file: str | None = None
    reference: str | None = None
    completed: int | None = None
    total: int | None = None
    files: int | None = None


@dataclass(frozen=True)
class PlannedFile:
    """One file of a pull: its role in the entry, its reference, its expected digest."""

    role: str
    ref: str
    sha256: str | None


def plan(catalog: Catalog, resolver: ModelFilesResolver, what: str) -> list[PlannedFile]:
    """The files a pull of ``what`` makes local; raises ``ModelNotFound`` for a name
    that is neither, ``UnsafePath`` or ``WeightsMissing`` before any download."""
    if what in catalog:
        return plan_entry(resolver, catalog.get(what).spec)
    scheme, sep, _ = what.partition(":")
    if not sep or scheme == FILE_SCHEME or scheme not in resolver.sources:
        raise ModelNotFound(what)
    return _checked(resolver, what, [PlannedFile("source", what, None)])


def plan_entry(resolver: ModelFilesResolver, spec: ModelSpec) -> list[PlannedFile]:
    """The files a pull of the catalog entry ``spec`` makes local (see :func:`plan`)."""
    resolver.refuse_unsafe(spec)
    files = [
        PlannedFile(role, ref, spec.sha256.get(role))
        for role, ref in resolver.references(spec).items()
    ]
    return _checked(resolver, spec.id, files)


def _checked(
    resolver: ModelFilesResolver, what: str, files: list[PlannedFile]
) -> list[PlannedFile]:
    for planned in files:
        source, rest = resolver.split(planned.ref)
        resolver.check(planned.ref)
        if (
            source.remote(rest, resolver.context) is None
            and not resolver.locate(planned.ref).exists()
        ):
            raise WeightsMissing(
                resolver.redact(
                    f"cannot pull '{what}': {source.missing_message(rest, resolver.context)}"
                )
            )
    return files


async def pull(
    catalog: Catalog, resolver: ModelFilesResolver, what: str
) -> AsyncIterator[PullEvent]:
    """The events of a pull of ``what``; a failed download raises from the iteration
    (``WeightsMissing``, its ``checksum_mismatch``, a 507 over the disk budget)."""
    async for event in pull_files(resolver, what, plan(catalog, resolver, what)):
        yield event


async def pull_files(
    resolver: ModelFilesResolver, what: str, files: list[PlannedFile]
) -> AsyncIterator[PullEvent]:
    """The events of a pull of ``files`` (from :func:`plan` or :func:`plan_entry`),
    reported under the name ``what``."""
    yield PullEvent(status="pulling", model=what, files=len(files))
    for planned in files:
        transfer = resolver.download(planned.ref, planned.sha256)
        if transfer is None:
            yield _event("present", what, planned)
            continue
        seen: Snapshot | None = None
        while seen is None or not seen.finished:
            seen = await asyncio.to_thread(transfer.wait, seen, 1.0)
            yield _event("downloading", what, planned, seen)
            if not seen.finished:
                await asyncio.sleep(REPORT_EVERY_S)
        transfer.result()  # raises the download's error
        yield _event("downloaded", what, planned, seen)
    yield PullEvent(status="success", model=what, files=len(files))


def watch(transfer: Transfer) -> Iterator[Snapshot]:
    """A download's progress, at most every :data:`REPORT_EVERY_S`, until it ends (for
    a caller without an event loop: the command line)."""
    seen: Snapshot | None = None
    while seen is None or not seen.finished:
        seen = transfer.wait(seen, 1.0)
        yield seen
        if not seen.finished:
            time.sleep(REPORT_EVERY_S)


def _event(
    status: PullStatus, what: str, planned: PlannedFile, seen: Snapshot | None = None
) -> PullEvent:
    return PullEvent(
        status=status,
        model=what,
        file=planned.role,
        reference=planned.ref,
        completed=seen.done if seen else None,
        total=seen.total if seen else None,
    )
