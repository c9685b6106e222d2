"""Config reload: ``SIGHUP`` or ``POST /api/admin/reload`` re-reads the config file.

What a reload changes: the catalog (``[models.<id>]`` tables) and the default model per
task (``[tasks]``). A new entry appears at once (a pinned one starts loading); a removed
one leaves the catalog once no request runs or waits on it, and is unloaded; a changed
one keeps serving until it is idle, is then unloaded, and its next use loads the new
entry. The new file is read and checked whole before anything changes: an invalid file
is refused with the reason and the running configuration stays.

Every other setting is read once at start; the answer names those whose value in the
file differs from the running one (``restart_required``): they take effect at the next
restart.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING

from msgspec import Struct

from altlas.catalog import Catalog, build_catalog
from altlas.config import ConfigError, Settings
from altlas_sdk.errors import Conflict, ValidationFailed

if TYPE_CHECKING:
    from altlas.runtime import Runtime
    from altlas.security.audit import AuditLog

logger = logging.getLogger(__name__)

#: Settings a reload applies; every other one needs a restart.
RELOADED = ("models", "task_defaults")


class ReloadReport(Struct, kw_only=True):
    """``POST /api/admin/reload``: the model ids the new file added, removed and
    changed, and the settings (by variable name) that differ but need a restart."""

    added: list[str]
    removed: list[str]
    changed: list[str]
    restart_required: list[str]


class InvalidConfig(ValidationFailed):
    """The config file cannot be used; the running configuration stays."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="invalid_config")


class NoConfigFile(Conflict):
    """The service started without a config file: there is nothing to re-read."""

    def __init__(self) -> None:
        super().__init__(
            "the service was started without a config file (--config or ALTLAS_CONFIG); "
            "there is nothing to reload",
            code="no_config_file",
        )


class Reloader:
    """Re-reads the runtime's config file and applies it, one reload at a time."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._lock = asyncio.Lock()
        self._retiring: set[asyncio.Task[None]] = set()
        # The file as the service started with it: a setting other than the catalog's
        # needs a restart when the file's value moves away from this one.
        self._started_with = _quietly_load(runtime.settings.config_path) or runtime.settings

    async def reload(self) -> ReloadReport:
        """Apply the config file as it is now; raises :class:`InvalidConfig` (422) or
        :class:`NoConfigFile` (409) and changes nothing then."""
        async with self._lock:
            settings, catalog = self._read()
            report = self._apply(settings, catalog)
        logger.info(
            "config reloaded: added %s, removed %s, changed %s; restart required for %s",
            report.added or "none",
            report.removed or "none",
            report.changed or "none",
            report.restart_required or "nothing",
        )
        return report

    def _read(self) -> tuple[Settings, Catalog]:
        from altlas.runtime import check_task_defaults

        path = self.runtime.settings.config_path
        if path is None:
            raise NoConfigFile()
        try:
            read = Settings.load(config_path=path)
            # The running settings with the file's catalog tables: MODEL_DIR and the
            # others stay as they are until a restart.
            settings = dataclasses.replace(
                self.runtime.settings, models=read.models, task_defaults=read.task_defaults
            )
            catalog = build_catalog(self.runtime.registry, settings, self.runtime.resolver)
            check_task_defaults(settings, catalog)
        except ConfigError as error:
            raise InvalidConfig(f"config file not reloaded: {error}") from None
        return read, catalog

    def _apply(self, settings: Settings, new: Catalog) -> ReloadReport:
        runtime = self.runtime
        old = {entry.spec.id: entry for entry in runtime.catalog}
        fresh = {entry.spec.id: entry for entry in new}
        added = [model_id for model_id in fresh if model_id not in old]
        removed = [model_id for model_id in old if model_id not in fresh]
        changed = [
            model_id
            for model_id in fresh
            if model_id in old and fresh[model_id].spec != old[model_id].spec
        ]
        restart = restart_required(self._started_with, settings)
        # Every service holds this one Settings object; the two values a reload
        # changes are swapped in place, as __post_init__ does for the paths.
        for name in RELOADED:
            object.__setattr__(runtime.settings, name, getattr(settings, name))
        for model_id in [*added, *changed]:
            runtime.catalog.put(fresh[model_id])
            runtime.models.track(fresh[model_id].spec)
        for model_id in [*changed, *removed]:
            self.spawn(self._retire(model_id, remove=model_id in removed))
        for model_id in added:
            if fresh[model_id].spec.pin:
                self.spawn(self._load_pinned(model_id))
        return ReloadReport(added=added, removed=removed, changed=changed, restart_required=restart)

    async def _retire(self, model_id: str, *, remove: bool) -> None:
        await self.runtime.models.retire(model_id, remove=remove)
        if not remove and model_id in self.runtime.catalog:
            if self.runtime.catalog.get(model_id).spec.pin:
                await self._load_pinned(model_id)

    async def _load_pinned(self, model_id: str) -> None:
        try:
            await self.runtime.models.load_model(model_id, pin=True)
        except Exception:
            logger.exception("loading pinned model %s after a config reload failed", model_id)

    def spawn(self, coroutine: Coroutine[object, object, None]) -> None:
        """Run ``coroutine`` in the background, kept until done (see :meth:`settle`)."""
        task = asyncio.ensure_future(coroutine)
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def settle(self) -> None:
        """Wait until every unload and load a reload started is done (for tests, and
        for the shutdown)."""
        while self._retiring:
            await asyncio.gather(*self._retiring, return_exceptions=True)


def restart_required(started: Settings, read: Settings) -> list[str]:
    """The variable names of the settings whose value in ``read`` differs from the
    one the service started with, other than those a reload applies."""
    names = []
    for setting in dataclasses.fields(Settings):
        env = setting.metadata.get("env")
        if env is None or setting.name in RELOADED:
            continue
        if getattr(started, setting.name) != getattr(read, setting.name):
            names.append(env)
    return names


def _quietly_load(path: Path | None) -> Settings | None:
    if path is None:
        return None
    try:
        return Settings.load(config_path=path)
    except ConfigError:
        return None


def watch_sighup(reloader: Reloader, audit: AuditLog | None = None) -> bool:
    """Reload on ``SIGHUP`` (where the platform has it and this is the main thread's
    event loop); returns whether it does. Each such reload goes to the audit log as
    ``reload`` by ``SIGHUP``; a refused file is logged with its reason."""
    import signal

    hangup = getattr(signal, "SIGHUP", None)
    if hangup is None:  # pragma: no cover - Windows
        return False

    def on_hangup() -> None:
        reloader.spawn(_reload_on_signal(reloader, audit))

    try:
        asyncio.get_running_loop().add_signal_handler(hangup, on_hangup)
    except (RuntimeError, ValueError):  # not the main thread: an embedded or test server
        return False
    return True


def unwatch_sighup() -> None:
    """Stop reloading on ``SIGHUP``."""
    import signal

    hangup = getattr(signal, "SIGHUP", None)
    if hangup is not None:
        try:
            asyncio.get_running_loop().remove_signal_handler(hangup)
        except (RuntimeError, ValueError):
            pass


async def _reload_on_signal(reloader: Reloader, audit: AuditLog | None) -> None:
    try:
        report = await reloader.reload()
    except (InvalidConfig, NoConfigFile) as error:
        logger.error("SIGHUP: %s", error.message)
        if audit is not None:
            audit.record(who="SIGHUP", action="reload", status=error.status)
        return
    if audit is not None:
        audit.record(
            who="SIGHUP",
            action="reload",
            status=200,
            detail={"added": report.added, "removed": report.removed, "changed": report.changed},
        )
