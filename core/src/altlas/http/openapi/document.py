"""The generic part of the OpenAPI document: routes, their operations and schemas.

Any route module describes its endpoints with :func:`describe` (request and response
types, the error statuses it answers beyond the common ones, the task it runs). Routes
without a description, plugin routes included, are still listed, with the one error
body as their error schema. Schemas come from ``msgspec.json.schema_components``, so the
document and the decoders cannot drift apart.
"""

from __future__ import annotations

import enum
import inspect
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar
from urllib.parse import quote

import msgspec
from starlette.routing import BaseRoute, Mount, Route

from altlas.http.openapi.refs import REF_TEMPLATE
from altlas.http.openapi.tasks import (
    TaskSchemas,
    add_task_components,
    request_content,
    response_content,
    task_types,
)
from altlas_sdk import TaskSpec
from altlas_sdk.wire import ErrorBody, InferenceRequest, InferenceResponse

OPENAPI_VERSION = "3.1.0"

_ATTRIBUTE = "__altlas_route_doc__"
_ROUTE_PREFIX = re.compile(r"^``[A-Z]+ [^`]*``:\s*")
_HTTP_METHODS = ("get", "put", "post", "delete", "options", "patch", "trace")
_CONVERTOR_SCHEMAS: Mapping[str, Mapping[str, Any]] = {
    "IntegerConvertor": {"type": "integer", "minimum": 0},
    "FloatConvertor": {"type": "number", "minimum": 0},
    "UUIDConvertor": {"type": "string", "format": "uuid"},
}

#: What each error status means on every route (the table of docs/api.md, in short).
ERROR_DESCRIPTIONS: Mapping[int, str] = {
    400: "The body is not valid JSON (`invalid_json`)",
    404: "No such model (`model_not_found`) or task (`task_not_served`)",
    405: "The route does not take this method; `Allow` lists those it takes",
    409: "The model cannot run now: `weights_missing`, `backend_unavailable`, "
    "`model_not_loaded`, `invalid_model_file`",
    413: "The body, or a decoded input, exceeds a limit",
    415: "The body is not declared as `application/json`",
    422: "A field is missing, of the wrong type, out of range or unknown; `param` is its path",
    429: "Too many requests; `Retry-After` gives the seconds to wait",
    500: "An unexpected failure; `code` is the error id the server log names",
    503: "A model's queue is full or the wait ran out; `Retry-After` gives the seconds to wait",
    507: "The model does not fit in the memory budget",
}
#: Statuses every route that reads a JSON body can answer.
BODY_ERRORS = (400, 413, 415, 422)

E = TypeVar("E")


class TaskBinding(enum.Enum):
    """Which task an inference route runs, when it is not one fixed task id."""

    #: The path parameter ``task`` names it: documented as one path per registered task.
    FROM_PATH = "from_path"
    #: The body chooses (its ``task``, or its model's task): any registered task.
    ANY = "any"


@dataclass(frozen=True)
class RouteDoc:
    """How one endpoint is documented.

    ``request`` and ``response`` are msgspec-describable types of JSON bodies; with
    ``request_required`` false the request body may be left out.
    ``request_content`` and ``response_content`` are OpenAPI ``content`` maps for bodies
    that are not JSON (a multipart form, an HTML page); they replace the JSON body.
    ``errors`` are the statuses the endpoint answers besides 500 and, when it reads a
    body, 400, 413, 415 and 422. ``responses`` gives the JSON body type of a status
    whose body is not the error body (a readiness report that also comes with a 503).
    ``components`` are further types the schemas reference by hand (through
    :data:`REF_TEMPLATE`). ``task`` makes the endpoint an inference route of a task
    id or a :class:`TaskBinding`: its request and success bodies are then the task's
    own (``InferenceRequest.<task>``...), and ``request``/``response`` are not used.
    """

    request: Any = None
    request_required: bool = True
    response: Any = None
    errors: tuple[int, ...] = ()
    request_content: Mapping[str, Any] | None = None
    response_content: Mapping[str, Any] | None = None
    responses: Mapping[int, Any] | None = None
    components: tuple[Any, ...] = ()
    summary: str | None = None
    tags: tuple[str, ...] = ()
    task: str | TaskBinding | None = None


def describe(
    *,
    request: Any = None,
    request_required: bool = True,
    response: Any = None,
    errors: Iterable[int] = (),
    request_content: Mapping[str, Any] | None = None,
    response_content: Mapping[str, Any] | None = None,
    responses: Mapping[int, Any] | None = None,
    components: Iterable[Any] = (),
    summary: str | None = None,
    tags: Iterable[str] = (),
    task: str | TaskBinding | None = None,
) -> Callable[[E], E]:
    """Decorate an endpoint (function or class) with its OpenAPI description.

    It can also be applied to an existing endpoint: ``describe(response=T)(endpoint)``.
    """
    doc = RouteDoc(
        request=request,
        request_required=request_required,
        response=response,
        errors=tuple(sorted(set(errors))),
        request_content=request_content,
        response_content=response_content,
        responses=dict(responses) if responses else None,
        components=tuple(components),
        summary=summary,
        tags=tuple(tags),
        task=task,
    )

    def attach(endpoint: E) -> E:
        setattr(endpoint, _ATTRIBUTE, doc)
        return endpoint

    return attach


def route_doc(endpoint: object) -> RouteDoc | None:
    """The description :func:`describe` attached to ``endpoint``, if any."""
    doc = getattr(endpoint, _ATTRIBUTE, None)
    return doc if isinstance(doc, RouteDoc) else None


@dataclass(frozen=True)
class _Operation:
    path: str
    method: str
    route: Route
    doc: RouteDoc | None
    #: The tasks whose requests the operation takes; empty for other routes.
    tasks: tuple[str, ...] = ()
    #: Path parameters the path no longer has (a task route written per task).
    fixed: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class _Schemas:
    """The schema of every described type, by object id, and of every task."""

    of_type: Mapping[int, Any]
    error: Mapping[str, Any]
    tasks: Mapping[str, TaskSchemas]
    specs: Mapping[str, TaskSpec]


def openapi_document(
    routes: Sequence[BaseRoute],
    *,
    title: str,
    version: str,
    description: str = "",
    tasks: Mapping[str, TaskSpec] | None = None,
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes`` (an app's ``router.routes``).

    ``tasks`` are the registered task specs by id: each gets its request, response and
    form components, and the inference routes that :func:`describe` binds to a task
    take them (a route whose ``task`` is :attr:`TaskBinding.FROM_PATH` is listed once
    per task).
    """
    specs = dict(tasks or {})
    operations = list(_operations(routes, "", specs))
    named: list[Any] = [ErrorBody]
    for operation in operations:
        if operation.doc is None:
            continue
        doc = operation.doc
        own = doc.responses.values() if doc.responses else ()
        named += [kind for kind in (doc.request, doc.response, *own, *doc.components) if kind]
    if specs or any(operation.doc and operation.doc.task for operation in operations):
        named += task_types(specs.values())
    # Equal types (an Annotated alias written twice) share one schema.
    types = [kind for position, kind in enumerate(named) if kind not in named[:position]]
    refs, components = msgspec.json.schema_components(types, ref_template=REF_TEMPLATE)
    schema_of = {id(kind): refs[types.index(kind)] for kind in named}
    task_schemas = add_task_components(specs.values(), lambda kind: schema_of[id(kind)], components)
    schemas = _Schemas(schema_of, schema_of[id(ErrorBody)], task_schemas, specs)

    paths: dict[str, dict[str, Any]] = {}
    used_ids: set[str] = set()
    for operation in operations:
        entry = _operation_object(operation, schemas)
        entry["operationId"] = _unique(_operation_id(operation), used_ids)
        paths.setdefault(operation.path, {})[operation.method] = entry
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": title, "version": version, "description": description},
        "paths": paths,
        "components": {"schemas": components},
    }


def _operations(
    routes: Iterable[BaseRoute], prefix: str, specs: Mapping[str, TaskSpec]
) -> Iterable[_Operation]:
    for route in routes:
        if isinstance(route, Mount):
            yield from _operations(route.routes, prefix + route.path, specs)
        elif isinstance(route, Route):
            doc = route_doc(route.endpoint)
            path = prefix + re.sub(r"{(\w+):\w+}", r"{\1}", route.path)
            for method in _methods(route):
                yield from _task_operations(_Operation(path, method, route, doc), specs)


def _task_operations(operation: _Operation, specs: Mapping[str, TaskSpec]) -> Iterable[_Operation]:
    """``operation`` with the tasks it runs: a route of one task, of any task, or one
    operation per task for a route whose path names the task."""
    task = operation.doc.task if operation.doc is not None else None
    if task is None or not specs:
        yield operation
    elif task is TaskBinding.ANY:
        yield replace(operation, tasks=tuple(specs))
    elif task is TaskBinding.FROM_PATH:
        for task_id in specs:
            path = operation.path.replace("{task}", quote(task_id, safe=""))
            yield replace(operation, path=path, tasks=(task_id,), fixed=frozenset({"task"}))
    elif task in specs:
        yield replace(operation, tasks=(task,))
    else:
        # A route of a task no plugin registered: it can only answer 404.
        yield operation


def _methods(route: Route) -> list[str]:
    if route.methods is not None:
        return [m.lower() for m in sorted(route.methods) if m.lower() in _HTTP_METHODS]
    # A class endpoint without a method list answers the methods it defines.
    return [
        m for m in _HTTP_METHODS if inspect.isclass(route.endpoint) and hasattr(route.endpoint, m)
    ]


def _operation_object(operation: _Operation, schemas: _Schemas) -> dict[str, Any]:
    doc = operation.doc
    entry: dict[str, Any] = {"summary": _summary(operation, schemas)}
    if doc is not None and doc.tags:
        entry["tags"] = list(doc.tags)
    parameters = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": dict(_CONVERTOR_SCHEMAS.get(type(convertor).__name__, {"type": "string"})),
        }
        for name, convertor in operation.route.param_convertors.items()
        if name not in operation.fixed
    ]
    if parameters:
        entry["parameters"] = parameters
    body = _request_body(operation, schemas)
    if body is not None:
        entry["requestBody"] = body
    entry["responses"] = _responses(operation, schemas, reads_body=body is not None)
    return entry


def _summary(operation: _Operation, schemas: _Schemas) -> str:
    doc = operation.doc
    if len(operation.tasks) == 1 and operation.fixed:
        spec = schemas.specs[operation.tasks[0]]
        return f"Task '{spec.id}': {spec.description}".strip().rstrip(":")
    endpoint = operation.route.endpoint
    # An endpoint object (a wrapped ASGI app) would give its class's docstring.
    own_doc = inspect.isroutine(endpoint) or inspect.isclass(endpoint)
    endpoint_doc = (inspect.getdoc(endpoint) if own_doc else None) or ""
    summary = doc.summary if doc and doc.summary else endpoint_doc.split("\n\n")[0]
    # Docstrings start with the route itself ("``GET /healthz``: ..."), which the path says.
    summary = _ROUTE_PREFIX.sub("", summary.strip())
    summary = summary[:1].upper() + summary[1:]
    return " ".join(summary.split())


def _request_body(operation: _Operation, schemas: _Schemas) -> dict[str, Any] | None:
    doc = operation.doc
    if doc is None:
        return None
    if operation.tasks:
        chosen = [schemas.tasks[task] for task in operation.tasks]
        return {"required": True, "content": request_content(chosen)}
    if doc.request_content is not None:
        return {"required": True, "content": dict(doc.request_content)}
    if doc.request is not None:
        return {
            "required": doc.request_required,
            "content": {"application/json": {"schema": schemas.of_type[id(doc.request)]}},
        }
    if doc.task is not None:
        # A task route with no task to run: any body gets its 404.
        schema = schemas.of_type.get(id(InferenceRequest), {"type": "object"})
        return {"required": True, "content": {"application/json": {"schema": schema}}}
    return None


def _responses(operation: _Operation, schemas: _Schemas, *, reads_body: bool) -> dict[str, Any]:
    doc = operation.doc
    success: dict[str, Any] = {"description": "Success", "headers": _request_id_header()}
    if operation.tasks:
        success["content"] = response_content(schemas.tasks[task] for task in operation.tasks)
    elif doc is not None and doc.response_content is not None:
        success["content"] = dict(doc.response_content)
    elif doc is not None and doc.response is not None:
        success["content"] = {"application/json": {"schema": schemas.of_type[id(doc.response)]}}
    elif doc is not None and doc.task is not None and id(InferenceResponse) in schemas.of_type:
        success["content"] = {
            "application/json": {"schema": schemas.of_type[id(InferenceResponse)]}
        }
    responses: dict[str, Any] = {"200": success}
    statuses = set(doc.errors if doc else ()) | {500}
    if reads_body:
        statuses |= set(BODY_ERRORS)
    own = doc.responses if doc is not None and doc.responses else {}
    for status in sorted(statuses | set(own)):
        if status in own:
            description = getattr(own[status], "__name__", "Body")
            responses[str(status)] = _json_response(description, schemas.of_type[id(own[status])])
        else:
            description = ERROR_DESCRIPTIONS.get(status, "Error")
            responses[str(status)] = _json_response(description, schemas.error)
        if status in {429, 503}:
            responses[str(status)]["headers"]["Retry-After"] = {
                "description": "Whole seconds to wait before retrying",
                "schema": {"type": "string", "pattern": "^[1-9][0-9]*$"},
            }
    # Any other status (a plugin's, a 404 for a path value) still has the one error body.
    responses["default"] = _json_response("Any other error", schemas.error)
    return responses


def _json_response(description: str, schema: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "description": description,
        "headers": _request_id_header(),
        "content": {"application/json": {"schema": dict(schema)}},
    }


def _request_id_header() -> dict[str, Any]:
    return {
        "X-Request-ID": {
            "description": "The request's id (the client's when sane, else generated)",
            "required": True,
            "schema": {"type": "string"},
        }
    }


def _operation_id(operation: _Operation) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "_", operation.path).strip("_") or "root"
    if operation.path.endswith("/") and operation.path != "/":
        slug += "_slash"
    return f"{operation.method}_{slug}"


def _unique(candidate: str, used: set[str]) -> str:
    name, number = candidate, 2
    while name in used:
        name, number = f"{candidate}_{number}", number + 1
    used.add(name)
    return name
