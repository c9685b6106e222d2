"""Request tracing with OpenTelemetry: off, and nothing of OpenTelemetry imported, unless
``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set.

When on, each HTTP request is a server span (continuing the caller's trace from its
``traceparent`` header), and the inference pipeline adds one child span per stage:

    altlas.select     choosing the model and decoding the inputs
    altlas.cache      the response cache lookup
    altlas.load       acquiring the model (loading it on demand)
    altlas.queue      waiting for a slot of the model
    altlas.inference  the backend call (a coalesced call's batch)
    altlas.encode     checking the output, caching it, building the response

Queue and inference happen in the scheduler and the backend's thread: their spans are
recorded when the call returns, from its measured wait and run times. Spans go to the
OTLP endpoint through the OpenTelemetry SDK's batch processor (``pip install
'altlas-core[otel]'``); the standard ``OTEL_*`` variables (``OTEL_SERVICE_NAME``,
``OTEL_EXPORTER_OTLP_PROTOCOL``, headers, sampling) apply as the SDK reads them.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any

from altlas.config import ConfigError

# The OpenTelemetry tracer while tracing is on; None keeps every call here a no-op.
_tracer: Any = None
_NOTHING: AbstractContextManager[None] = contextlib.nullcontext()

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")


def enabled() -> bool:
    """Whether spans are being recorded."""
    return _tracer is not None


def configure(environ: Mapping[str, str] = os.environ) -> bool:
    """Turn tracing on, exporting over OTLP, when an OTLP endpoint is set in
    ``environ`` (once per process: later calls keep the first configuration).
    Returns whether tracing is on."""
    if _tracer is not None:
        return True
    if not any(environ.get(name) for name in ENDPOINT_VARIABLES):
        return False
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as error:
        raise ConfigError(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but the OpenTelemetry SDK is not installed: "
            "pip install 'altlas-core[otel]'"
        ) from error
    # From OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES; named altlas when they don't.
    resource = Resource.create()
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": "altlas"}))
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(_exporter(environ)))
    use(provider)
    return True


def _exporter(environ: Mapping[str, str]) -> Any:
    protocol = environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "")
    )
    if protocol.strip().lower() == "grpc":
        # Needs opentelemetry-exporter-otlp-proto-grpc (not in the otel extra: grpcio).
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    return OTLPSpanExporter()


def use(provider: Any) -> None:
    """Record spans with ``provider`` (an OpenTelemetry ``TracerProvider``; tests pass
    one with an in-memory exporter); ``None`` turns tracing off. The provider also
    becomes OpenTelemetry's global one when none is set, so that plugins' own spans
    join the same traces."""
    global _tracer
    if provider is None:
        _tracer = None
        return
    from opentelemetry import trace

    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        trace.set_tracer_provider(provider)
    _tracer = provider.get_tracer("altlas")


def span(name: str, **attributes: Any) -> AbstractContextManager[Any]:
    """A child span of the current one around a stage; a shared no-op while off."""
    if _tracer is None:
        return _NOTHING
    return _tracer.start_as_current_span(name, attributes=attributes)


def record(name: str, start_ns: int, end_ns: int | None = None, **attributes: Any) -> None:
    """A finished span of the current one: a stage measured rather than wrapped
    (``time.time_ns()`` values; ``end_ns`` defaults to now)."""
    if _tracer is None:
        return
    finished = _tracer.start_span(name, start_time=start_ns, attributes=attributes)
    finished.end(end_time=end_ns if end_ns is not None else time.time_ns())


def record_run(model_id: str, queue_ms: float, inference_ms: float) -> None:
    """The queue and inference spans of a call that just returned, from its measured
    wait and run times (they happened in the scheduler and the backend's thread)."""
    if _tracer is None:
        return
    end = time.time_ns()
    started = end - int(inference_ms * 1e6)
    queued = started - int(queue_ms * 1e6)
    record("altlas.queue", queued, started, **{"altlas.model": model_id})
    record("altlas.inference", started, end, **{"altlas.model": model_id})


@contextlib.contextmanager
def server_span(method: str, path: str, headers: list[tuple[bytes, bytes]]) -> Iterator[Any]:
    """The span of one HTTP request, continuing the caller's trace (W3C
    ``traceparent``); yields it (``None`` while off) for attributes known later."""
    if _tracer is None:
        yield None
        return
    from opentelemetry import propagate
    from opentelemetry.trace import SpanKind

    carrier = {key.decode("latin-1"): value.decode("latin-1") for key, value in headers}
    with _tracer.start_as_current_span(
        f"{method} {path}",
        context=propagate.extract(carrier),
        kind=SpanKind.SERVER,
        attributes={"http.request.method": method, "url.path": path},
    ) as current:
        yield current


def current_ids() -> tuple[str, str] | None:
    """The current trace and span ids in hex (for log lines), or ``None``."""
    if _tracer is None:
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"
