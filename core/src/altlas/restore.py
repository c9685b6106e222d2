"""Restore after restart: with ``RESTORE_MODELS=true`` the models loaded at shutdown are
loaded again at start.

At shutdown, before the models are unloaded, their ids go to
``CACHE_DIR/loaded-models.json`` (written to a temporary file and renamed, so a crash
mid-write leaves the previous record), most recently used first, with what each held
in memory and whether it was pinned. At start they load again in the background: the
pinned ones first, then the others by recency while what they held at shutdown fits
in ``RAM_MEMORY_LIMIT``; one that fails to load is logged and skipped. Models pinned in
the catalog load at every start whatever this setting says.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from altlas.runtime import Runtime

logger = logging.getLogger(__name__)

RECORD_NAME = "loaded-models.json"


class LoadedRecord(msgspec.Struct, kw_only=True):
    """One model that was loaded at shutdown."""

    id: str
    last_used_at: float | None = None
    pinned: bool = False
    ram_bytes: int = 0
    gpu_bytes: int = 0


class Record(msgspec.Struct, kw_only=True):
    """``CACHE_DIR/loaded-models.json``."""

    models: list[LoadedRecord]


def record_path(runtime: Runtime) -> Path:
    """Where the record of loaded models is kept."""
    return runtime.settings.cache_dir / RECORD_NAME


def record(runtime: Runtime) -> list[str]:
    """Write the models loaded now, most recently used first (call it before they are
    unloaded at shutdown); returns their ids. Nothing is written unless
    ``RESTORE_MODELS`` is on."""
    if not runtime.settings.restore_models:
        return []
    models = []
    for usage in runtime.models.holdings():
        if usage.state != "loaded":
            continue
        status = runtime.models.status(usage.model_id)
        models.append(
            LoadedRecord(
                id=usage.model_id,
                last_used_at=status.last_used_at or status.loaded_at,
                pinned=usage.pinned,
                ram_bytes=usage.ram_bytes,
                gpu_bytes=usage.gpu_bytes,
            )
        )
    models.sort(key=lambda model: model.last_used_at or 0.0, reverse=True)
    try:
        _write_atomically(record_path(runtime), msgspec.json.encode(Record(models=models)))
    except OSError as error:  # the shutdown goes on: only the next start is poorer
        logger.error("cannot record the loaded models in %s: %s", record_path(runtime), error)
    return [model.id for model in models]


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as tmp:
        tmp.write(data)
        tmp.flush()
        os.fsync(tmp.fileno())
    os.replace(tmp.name, path)


def read_record(path: Path) -> list[LoadedRecord]:
    """The recorded models; none when the file is missing or unreadable (logged)."""
    try:
        return msgspec.json.decode(path.read_bytes(), type=Record).models
    except FileNotFoundError:
        return []
    except (OSError, msgspec.DecodeError, json.JSONDecodeError) as error:
        logger.warning("ignoring %s: %s", path, error)
        return []


def plan(models: list[LoadedRecord], ram_budget: int) -> list[LoadedRecord]:
    """What to load again, in order: pinned models, then the others most recently used
    first while the memory they held fits in ``ram_budget`` beside those before."""
    pinned = [model for model in models if model.pinned]
    used = sum(model.ram_bytes for model in pinned)
    chosen = list(pinned)
    for model in models:
        if model.pinned:
            continue
        if used + model.ram_bytes > ram_budget:
            logger.info("not restoring model %s: over RAM_MEMORY_LIMIT", model.id)
            continue
        used += model.ram_bytes
        chosen.append(model)
    return chosen


async def restore(runtime: Runtime) -> list[str]:
    """Load again the models recorded at the last shutdown (``RESTORE_MODELS``);
    returns the ids loaded. Models no longer in the catalog are skipped."""
    if not runtime.settings.restore_models:
        return []
    recorded = [m for m in read_record(record_path(runtime)) if m.id in runtime.catalog]
    restored = []
    for model in plan(recorded, runtime.settings.ram_budget_bytes()):
        try:
            await runtime.models.load_model(model.id, pin=True if model.pinned else None)
        except Exception:
            logger.exception("restoring model %s failed", model.id)
            continue
        restored.append(model.id)
    if restored:
        logger.info("restored models loaded before the restart: %s", ", ".join(restored))
    return restored
