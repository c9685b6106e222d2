"""The OpenAPI document of the running app, generated from its routes, its msgspec
types and its registered tasks.

:mod:`~altlas.http.openapi.document` lists the routes and their described request and
response types; :mod:`~altlas.http.openapi.tasks` adds, for every registered task, the
request, response and form that the inference routes bound to it take.
"""

from altlas.http.openapi.document import (
    BODY_ERRORS,
    ERROR_DESCRIPTIONS,
    OPENAPI_VERSION,
    RouteDoc,
    TaskBinding,
    describe,
    openapi_document,
    route_doc,
)
from altlas.http.openapi.refs import REF_TEMPLATE

__all__ = [
    "BODY_ERRORS",
    "ERROR_DESCRIPTIONS",
    "OPENAPI_VERSION",
    "REF_TEMPLATE",
    "RouteDoc",
    "TaskBinding",
    "describe",
    "openapi_document",
    "route_doc",
]
