"""Readiness: whether the service should get traffic now.

Ready means: started and not shutting down, every plugin that was asked for loaded,
every pinned model loaded, and every task's default model loaded or loadable. A
default model whose weights are not installed does not hold readiness back (the
design document's example entries list that way on a fresh install); one whose load
failed does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from altlas.runtime import Runtime

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
            status = manager.status(spec.id)
            checks.append(
                Check(
                    name=f"pinned:{spec.id}",
                    ok=status.state == "loaded",
                    detail=None if status.state == "loaded" else status.detail or status.state,
                )
            )
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
