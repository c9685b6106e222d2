"""One exception hierarchy for the whole service, with the HTTP status on the class.

Every error a client can see is an :class:`AltlasError`. The core renders any of them
as the one JSON error body (``{"error": {"type", "message", "param", "code",
"request_id"}}``), a superset of OpenAI's, so the same body serves ``/api`` and ``/v1``.
Plugins raise these too: a backend that rejects an input raises :class:`InvalidInput`,
one whose weights are absent raises :class:`WeightsMissing`.
"""

from __future__ import annotations

import logging
import uuid
from typing import ClassVar


class AltlasError(Exception):
    """Base of every error the service reports to a client.

    ``status`` is the HTTP status, ``type`` the stable machine-readable category,
    ``code`` an optional finer-grained code, ``param`` the offending field as a
    msgspec ``$.path`` where one applies.
    """

    status: ClassVar[int] = 500
    type: ClassVar[str] = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        self.headers = dict(headers or {})


class BadRequest(AltlasError):
    """The request is malformed in a way validation cannot name (e.g. invalid JSON)."""

    status = 400
    type = "invalid_request_error"


class AuthenticationFailed(AltlasError):
    """No API key, or one the service does not know, where the route needs one. The
    response carries ``WWW-Authenticate: Bearer``."""

    status = 401
    type = "authentication_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message, code=code, headers={"WWW-Authenticate": "Bearer"})


class PermissionDenied(AltlasError):
    """The caller is known but may not do this: its API key lacks the route's scope or
    may not use the model, or a browser page on another origin sent the request."""

    status = 403
    type = "permission_error"


class NotFound(AltlasError):
    """The named thing does not exist."""

    status = 404
    type = "not_found_error"


class ModelNotFound(NotFound):
    """No catalog entry has this model id."""

    def __init__(self, model_id: str) -> None:
        super().__init__(
            f"model '{model_id}' not found; GET /api/models/ lists the models",
            param="$.model_id",
            code="model_not_found",
        )
        self.model_id = model_id


class RouteNotFound(NotFound):
    """No route matches the request path."""

    def __init__(self, path: str) -> None:
        super().__init__(f"no route for '{path}'", code="route_not_found")


class TaskNotServed(NotFound):
    """No installed model serves the task (or the task id is unknown)."""

    def __init__(self, task: str, reason: str) -> None:
        super().__init__(reason, code="task_not_served")
        self.task = task


class MethodNotAllowed(AltlasError):
    """The route exists but not for this HTTP method."""

    status = 405
    type = "invalid_request_error"


class Conflict(AltlasError):
    """The request conflicts with the state of a model or of the service."""

    status = 409
    type = "conflict_error"


class WeightsMissing(Conflict):
    """A model's files are not where its catalog entry says; the message says where to put them."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="weights_missing")


class InvalidModelFile(Conflict):
    """The model's files exist but its library cannot read them (corrupt, wrong format)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="invalid_model_file")


class BackendUnavailable(Conflict):
    """The model's backend is not installed or its plugin failed to load."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="backend_unavailable")


class ModelNotLoaded(Conflict):
    """Inference on a model that is not loaded while on-demand loading is off."""

    def __init__(self, model_id: str) -> None:
        super().__init__(
            f"model '{model_id}' is not loaded; POST /api/models/{model_id}/load first",
            code="model_not_loaded",
        )


class PayloadTooLarge(AltlasError):
    """The request body (or a decoded input) exceeds a configured limit."""

    status = 413
    type = "payload_too_large"


class UnsupportedMediaType(AltlasError):
    """The request's content type is not one the route accepts."""

    status = 415
    type = "unsupported_media_type"


class ValidationFailed(AltlasError):
    """The request is well-formed but a field is invalid; ``param`` is its ``$.path``."""

    status = 422
    type = "validation_error"


class InvalidInput(ValidationFailed):
    """A backend rejected one input (wrong tensor shape, empty text...)."""

    def __init__(self, message: str, *, param: str | None = "$.inputs") -> None:
        super().__init__(message, param=param, code="invalid_input")


class RateLimited(AltlasError):
    """Too many requests from this client; retry after ``retry_after`` seconds."""

    status = 429
    type = "rate_limit_error"

    def __init__(self, message: str, *, retry_after: float = 1.0, code: str | None = None) -> None:
        super().__init__(
            message, code=code, headers={"Retry-After": str(max(1, round(retry_after)))}
        )


class Overloaded(AltlasError):
    """The model's queue is full or the wait ran out; retry after ``retry_after`` seconds."""

    status = 503
    type = "overloaded_error"

    def __init__(self, message: str, *, retry_after: float = 1.0) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, round(retry_after)))})


class ModelsUnavailable(AltlasError):
    """Every model an orchestrated request could use failed, timed out, was busy, or
    has its circuit breaker open; the message says what happened to each. Retry after
    ``retry_after`` seconds."""

    status = 503
    type = "unavailable_error"

    def __init__(self, message: str, *, code: str, retry_after: float = 1.0) -> None:
        super().__init__(
            message, code=code, headers={"Retry-After": str(max(1, round(retry_after)))}
        )


class ModelCrashed(AltlasError):
    """The process that ran the model died (a native crash, a kill, out of memory)
    during or before the call. The core drops the model, so the next request loads it
    again; retry after ``retry_after`` seconds."""

    status = 503
    type = "unavailable_error"

    def __init__(self, model_id: str, reason: str, *, retry_after: float = 1.0) -> None:
        super().__init__(
            f"model '{model_id}' crashed: {reason}",
            code="model_crashed",
            headers={"Retry-After": str(max(1, round(retry_after)))},
        )
        self.model_id = model_id
        self.reason = reason


class InsufficientMemory(AltlasError):
    """A model cannot fit in the memory budget even after evicting every model that may
    be evicted; the message says what holds the memory."""

    status = 507
    type = "insufficient_memory_error"

    def __init__(self, message: str) -> None:
        super().__init__(message, code="insufficient_memory")


class Cancelled(AltlasError):
    """The request was cancelled (its client went away); never rendered to that client."""

    status = 499
    type = "cancelled"


class InternalError(AltlasError):
    """An unexpected failure. The body carries only an error id; the log has the traceback."""

    status = 500
    type = "internal_error"

    def __init__(self, error_id: str) -> None:
        super().__init__(
            f"internal error {error_id}; the server log has the details",
            code=error_id,
        )
        self.error_id = error_id

    @classmethod
    def logged(
        cls,
        logger: logging.Logger,
        what: str,
        *args: object,
        exc_info: BaseException | bool | None = None,
    ) -> InternalError:
        """A new error id, logged with ``what % args`` (and the traceback when
        ``exc_info`` says so): the one way an unexpected failure reaches a client, so
        the body's id always finds its log line."""
        error_id = uuid.uuid4().hex[:12]
        logger.error(what + " (error id %s)", *args, error_id, exc_info=exc_info)
        return cls(error_id)
