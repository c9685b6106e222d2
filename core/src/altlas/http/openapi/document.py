"""The OpenAPI document of the running app, generated from its routes and msgspec types.

Any route module describes its endpoints with :func:`describe` (request and response
types, the error statuses it answers beyond the common ones). Routes without a
description, plugin routes included, are still listed, with the one error body as their
error schema. Schemas come from ``msgspec.json.schema_components``, so the document and
the decoders cannot drift apart.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
from starlette.routing import BaseRoute, Mount, Route

from altlas_sdk.wire import ErrorBody

OPENAPI_VERSION = "3.1.0"
#: Where component schemas live; types that reference components by hand use it too.
REF_TEMPLATE = "#/components/schemas/{name}"

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
    :data:`REF_TEMPLATE`).
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


def openapi_document(
    routes: Sequence[BaseRoute], *, title: str, version: str, description: str = ""
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes`` (an app's ``router.routes``)."""
    operations = list(_operations(routes, ""))
    named: list[Any] = [ErrorBody]
    for operation in operations:
        if operation.doc is None:
            continue
        doc = operation.doc
        own = doc.responses.values() if doc.responses else ()
        named += [kind for kind in (doc.request, doc.response, *own, *doc.components) if kind]
    # Equal types (an Annotated alias written twice) share one schema.
    types = [kind for position, kind in enumerate(named) if kind not in named[:position]]
    refs, components = msgspec.json.schema_components(types, ref_template=REF_TEMPLATE)
    schema_of = {id(kind): refs[types.index(kind)] for kind in named}
    error_ref = schema_of[id(ErrorBody)]

    paths: dict[str, dict[str, Any]] = {}
    used_ids: set[str] = set()
    for operation in operations:
        entry = _operation_object(operation, schema_of, error_ref)
        entry["operationId"] = _unique(_operation_id(operation), used_ids)
        paths.setdefault(operation.path, {})[operation.method] = entry
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": title, "version": version, "description": description},
        "paths": paths,
        "components": {"schemas": components},
    }


def _operations(routes: Iterable[BaseRoute], prefix: str) -> Iterable[_Operation]:
    for route in routes:
        if isinstance(route, Mount):
            yield from _operations(route.routes, prefix + route.path)
        elif isinstance(route, Route):
            doc = route_doc(route.endpoint)
            path = prefix + re.sub(r"{(\w+):\w+}", r"{\1}", route.path)
            for method in _methods(route):
                yield _Operation(path, method, route, doc)


def _methods(route: Route) -> list[str]:
    if route.methods is not None:
        return [m.lower() for m in sorted(route.methods) if m.lower() in _HTTP_METHODS]
    # A class endpoint without a method list answers the methods it defines.
    return [
        m for m in _HTTP_METHODS if inspect.isclass(route.endpoint) and hasattr(route.endpoint, m)
    ]


def _operation_object(
    operation: _Operation, schema_of: Mapping[int, Any], error_ref: Mapping[str, Any]
) -> dict[str, Any]:
    doc = operation.doc
    endpoint_doc = inspect.getdoc(operation.route.endpoint) or ""
    summary = doc.summary if doc and doc.summary else endpoint_doc.split("\n\n")[0]
    # Docstrings start with the route itself ("``GET /healthz``: ..."), which the path says.
    summary = _ROUTE_PREFIX.sub("", summary.strip())
    summary = summary[:1].upper() + summary[1:]
    entry: dict[str, Any] = {"summary": " ".join(summary.split())}
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
    ]
    if parameters:
        entry["parameters"] = parameters

    reads_body = False
    if doc is not None and doc.request_content is not None:
        entry["requestBody"] = {"required": True, "content": dict(doc.request_content)}
        reads_body = True
    elif doc is not None and doc.request is not None:
        entry["requestBody"] = {
            "required": doc.request_required,
            "content": {"application/json": {"schema": schema_of[id(doc.request)]}},
        }
        reads_body = True

    responses: dict[str, Any] = {}
    success: dict[str, Any] = {"description": "Success", "headers": _request_id_header()}
    if doc is not None and doc.response_content is not None:
        success["content"] = dict(doc.response_content)
    elif doc is not None and doc.response is not None:
        success["content"] = {"application/json": {"schema": schema_of[id(doc.response)]}}
    responses["200"] = success
    statuses = set(doc.errors if doc else ()) | {500}
    if reads_body:
        statuses |= set(BODY_ERRORS)
    own = doc.responses if doc is not None and doc.responses else {}
    for status in sorted(statuses | set(own)):
        if status in own:
            description, schema = (
                getattr(own[status], "__name__", "Body"),
                schema_of[id(own[status])],
            )
        else:
            description, schema = ERROR_DESCRIPTIONS.get(status, "Error"), error_ref
        responses[str(status)] = _json_response(description, schema)
        if status in {429, 503}:
            responses[str(status)]["headers"]["Retry-After"] = {
                "description": "Whole seconds to wait before retrying",
                "schema": {"type": "string", "pattern": "^[1-9][0-9]*$"},
            }
    # Any other status (a plugin's, a 404 for a path value) still has the one error body.
    responses["default"] = _json_response("Any other error", error_ref)
    entry["responses"] = responses
    return entry


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
