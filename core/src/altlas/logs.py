"""Log lines as text or as JSON (``LOG_FORMAT``), each carrying the id of the request it
belongs to.

The HTTP layer puts each request's id in :data:`request_id` for the time the request
runs, so every record logged meanwhile (the access line, a model loaded on demand, an
error) carries it, as does work the request started (tasks copy the context). JSON
lines are written with ``logging.Formatter`` and msgspec, the service's JSON library:
no other dependency for a dozen lines of formatting.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import Any

import msgspec

from altlas import tracing

#: The id of the request being handled (``X-Request-ID``); ``None`` outside requests.
request_id: ContextVar[str | None] = ContextVar("altlas_request_id", default=None)

#: ``LOG_FORMAT=text``: the layout of every line.
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# A record's own attributes; anything else on it came as ``extra=`` and is kept.
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}

# uvicorn's access records: the arguments of its '%s - "%s %s HTTP/%s" %d' message.
_ACCESS_FIELDS = ("client", "method", "path", "http_version", "status")


def _encodable(value: object) -> object:
    # An ``extra=`` value JSON has no type for: its repr.
    return repr(value)


_encoder = msgspec.json.Encoder(enc_hook=_encodable)


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` (``-`` outside requests) to every record, for text formats
    that name it (``%(request_id)s``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (UTC, ISO 8601), ``level``, ``logger``,
    ``message``, ``request_id`` within a request, ``trace_id`` and ``span_id`` while
    tracing, an access record's fields, any ``extra=`` fields, and ``exception``."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        current = getattr(record, "request_id", None) or request_id.get()
        if current and current != "-":
            line["request_id"] = current
        ids = tracing.current_ids()
        if ids is not None:
            line["trace_id"], line["span_id"] = ids
        if record.name == "uvicorn.access" and isinstance(record.args, tuple):
            line.update(zip(_ACCESS_FIELDS, record.args, strict=False))
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and key not in line and key != "request_id":
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return _encoder.encode(line).decode()


def handler(log_format: str) -> logging.Handler:
    """A handler on standard error writing ``log_format`` (``text`` or ``json``) lines
    that carry the request id."""
    stream = logging.StreamHandler()
    stream.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    stream.addFilter(RequestIdFilter())
    return stream
