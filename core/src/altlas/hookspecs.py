"""The hooks altlas calls. The SDK owns them (:mod:`altlas_sdk.hookspecs`), so that a
plugin author sees every signature with the SDK alone; this module re-exports them for
the core's code and for existing imports."""

from __future__ import annotations

from altlas_sdk.hookspecs import (
    FacadeFactory,
    hookspec,
    register_backends,
    register_caches,
    register_catalog_entries,
    register_combiners,
    register_facades,
    register_model_hosts,
    register_model_sources,
    register_routes,
    register_selection_strategies,
    register_tasks,
    render_error,
    shutdown,
    startup,
)

__all__ = [
    "FacadeFactory",
    "hookspec",
    "register_backends",
    "register_caches",
    "register_catalog_entries",
    "register_combiners",
    "register_facades",
    "register_model_hosts",
    "register_model_sources",
    "register_routes",
    "register_selection_strategies",
    "register_tasks",
    "render_error",
    "shutdown",
    "startup",
]
