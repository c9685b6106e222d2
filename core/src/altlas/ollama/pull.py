"""``/api/pull`` and ``/api/delete`` for the models the catalog knows.

A pull makes a catalog model's files local through the core's pulls
(:mod:`altlas.pull`, the one place that downloads: the same shared downloads as
``POST /api/models/pull``), reporting bytes as they arrive, then each file as Ollama
reports layers: its sha256 digest, size and completion. A delete removes the files a
pull downloaded into CACHE_DIR; files a package installed or an operator put in
MODEL_DIR are never deleted (400).
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

from altlas.manager import ModelManager
from altlas.model_files import ModelFilesResolver
from altlas.ollama.types import ProgressResponse
from altlas.pull.service import plan_entry, pull_files
from altlas_sdk import ModelSpec
from altlas_sdk.errors import BadRequest

_CHUNK = 1 << 20


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for item in files:
        with item.open("rb") as handle:
            while block := handle.read(_CHUNK):
                digest.update(block)
    return "sha256:" + digest.hexdigest()


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


async def pull(resolver: ModelFilesResolver, spec: ModelSpec) -> AsyncIterator[ProgressResponse]:
    """Ollama's progress objects while ``spec``'s files are made local, through the
    core's pulls (shared, resumed, verified downloads: :mod:`altlas.pull`). A failure
    (``WeightsMissing``, an unsafe path, the disk budget) raises from the iteration."""
    files_to_pull = plan_entry(resolver, spec)
    yield ProgressResponse(status="pulling manifest")
    async for event in pull_files(resolver, spec.id, files_to_pull):
        if event.status == "downloading":
            yield ProgressResponse(
                status=f"pulling {event.file}", total=event.total, completed=event.completed
            )
    files = await asyncio.to_thread(resolver.fetch, spec)  # all local by now
    for path in (files.path, *files.extra.values()):
        digest = await asyncio.to_thread(_sha256, path)
        size = await asyncio.to_thread(_size, path)
        yield ProgressResponse(
            status=f"pulling {digest[7:19]}", digest=digest, total=size, completed=size
        )
    yield ProgressResponse(status="verifying sha256 digest")
    yield ProgressResponse(status="writing manifest")
    yield ProgressResponse(status="success")


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


async def delete(manager: ModelManager, resolver: ModelFilesResolver, spec: ModelSpec) -> None:
    """Unload ``spec``'s model and remove its files downloaded into CACHE_DIR."""
    cache_dir = resolver.context.cache_dir
    paths = [resolver.locate(ref) for ref in resolver.references(spec).values()]
    downloaded = [path for path in paths if path.exists() and _inside(path, cache_dir)]
    if not downloaded:
        raise BadRequest(
            f"model '{spec.id}' has no downloaded files in CACHE_DIR; its files come from "
            f"'{spec.source}' and are not removed by the service",
            param="$.model",
            code="nothing_to_delete",
        )
    if manager.is_loaded(spec.id):
        await manager.unload_model(spec.id)
    for path in downloaded:
        if path.is_dir():
            await asyncio.to_thread(shutil.rmtree, path)
        else:
            await asyncio.to_thread(path.unlink)
