"""Readiness: whether the service should get traffic now.

Ready means: started and not shutting down, every plugin that was asked for loaded,
every pinned model loaded (one that crashed is down until it loads again), and every
task's default model loaded or loadable. A default model whose weights are not
installed does not hold readiness back (the design document's example entries list
that way on a fresh install); one whose load failed does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from altlas.runtime import Runtime
    from altlas_sdk.wire import ModelStatus

_LOADABLE = {"available", "loading", "loaded", "weights_missing"}


class Check(msgspec.Struct, kw_only=True):
    """One readiness condition."""

    name: str
    ok: bool
    detail: str | None = None


class Readiness(msgspec.Struct, kw_only=True):
    """``GET /readyz``."""

    ready: bool
    checks: list[Check]


def readiness(runtime: Runtime) -> Readiness:
    """Evaluate every readiness check of ``runtime``."""
    checks = [_lifecycle(runtime), _plugins(runtime)]
    manager = runtime.models
    for entry in runtime.catalog:
        spec = entry.spec
        if spec.pin:
            checks.append(_pinned(manager.status(spec.id)))
        elif spec.default_for:
            status = manager.status(spec.id)
            ok = status.state in _LOADABLE
            checks.append(
                Check(
                    name=f"default:{spec.id}",
                    ok=ok,
                    detail=None if ok else status.detail or status.state,
                )
            )
    return Readiness(ready=all(check.ok for check in checks), checks=checks)


def _pinned(status: ModelStatus) -> Check:
    """A pinned model is up when loaded; down otherwise, saying why (a crash names its
    count and last exit reason)."""
    name = f"pinned:{status.model_id}"
    if status.state == "loaded":
        return Check(name=name, ok=True)
    detail = status.detail or status.state
    if status.crashes:
        detail = f"down after {status.crashes} crash(es) (last exit: {status.last_exit}): {detail}"
    return Check(name=name, ok=False, detail=detail)


def _lifecycle(runtime: Runtime) -> Check:
    if runtime.stopping:
        return Check(name="lifecycle", ok=False, detail="shutting down")
    if not runtime.started:
        return Check(name="lifecycle", ok=False, detail="starting")
    return Check(name="lifecycle", ok=True)


def _plugins(runtime: Runtime) -> Check:
    failures = runtime.plugins.failures
    if not failures:
        return Check(name="plugins", ok=True)
    names = ", ".join(failure.name for failure in failures)
    # A broken plugin is reported (GET /api/plugins) but does not stop the others.
    return Check(name="plugins", ok=True, detail=f"skipped after errors: {names}")
