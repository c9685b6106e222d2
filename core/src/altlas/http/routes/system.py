"""Health, readiness, resources, metrics, plugins and tasks."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from altlas.http.responses import MsgspecResponse
from altlas.readiness import readiness
from altlas.runtime import Runtime
from altlas_sdk.wire import PluginFailure, PluginInfo, PluginList, TaskInfo, TaskList


async def healthz(request: Request) -> MsgspecResponse:
    """``GET /healthz``: the process is up and serving."""
    return MsgspecResponse({"status": "ok"})


async def readyz(request: Request) -> MsgspecResponse:
    """``GET /readyz``: 200 when the service should get traffic, else 503 with the
    checks that failed."""
    report = readiness(request.app.state.runtime)
    return MsgspecResponse(report, status_code=200 if report.ready else 503)


async def resources(request: Request) -> MsgspecResponse:
    """``GET /api/system/resources``: CPU, RAM, GPUs and per-model memory."""
    runtime: Runtime = request.app.state.runtime
    monitor = runtime.facade("resource_monitor")
    return MsgspecResponse(monitor.get_current_usage())  # type: ignore[attr-defined]


async def metrics(request: Request) -> Response:
    """``GET /metrics``: Prometheus text format."""
    runtime: Runtime = request.app.state.runtime
    return Response(
        runtime.metrics.render(runtime), media_type="text/plain; version=0.0.4; charset=utf-8"
    )


def plugin_list(runtime: Runtime) -> PluginList:
    """Registered plugins and failures, as ``GET /api/plugins`` and ``altlas plugins``
    show them."""
    plugins = runtime.plugins
    return PluginList(
        plugins=[
            PluginInfo(
                name=record.name,
                distribution=record.distribution,
                version=record.version,
                builtin=record.builtin,
                hooks=plugins.hooks_of(record.name),
            )
            for record in plugins.records.values()
        ],
        failures=[
            PluginFailure(name=f.name, distribution=f.distribution, error=f.error)
            for f in plugins.failures
        ],
    )


async def list_plugins(request: Request) -> MsgspecResponse:
    """``GET /api/plugins``."""
    return MsgspecResponse(plugin_list(request.app.state.runtime))


async def list_tasks(request: Request) -> MsgspecResponse:
    """``GET /api/tasks``: registered task ids, their plugin and the models serving them."""
    runtime: Runtime = request.app.state.runtime
    return MsgspecResponse(
        TaskList(
            tasks=[
                TaskInfo(
                    id=task_id,
                    description=owned.item.description,
                    registered_by=owned.plugin,
                    models=[entry.spec.id for entry in runtime.catalog.serving(task_id)],
                )
                for task_id, owned in sorted(runtime.registry.tasks.items())
            ]
        )
    )


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
    Route("/api/system/resources", resources, methods=["GET"]),
    Route("/api/plugins", list_plugins, methods=["GET"]),
    Route("/api/plugins/", list_plugins, methods=["GET"]),
    Route("/api/tasks", list_tasks, methods=["GET"]),
    Route("/api/tasks/", list_tasks, methods=["GET"]),
]
