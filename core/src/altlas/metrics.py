"""Prometheus metrics in the text exposition format, with no client library.

Observations happen on the event loop's thread only (routes and the inference service),
so the families need no locks; values that live elsewhere (loaded models, memory, queue
depth, cache counts) are read at scrape time instead of being mirrored.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from altlas.runtime import Runtime

#: Latency buckets in seconds: sub-millisecond overhead up to minute-long generations.
LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)

#: Inputs per coalesced backend call: powers of two up to well past any useful batch.
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)

Labels = tuple[tuple[str, str], ...]


def _labels(pairs: Labels, extra: Labels = ()) -> str:
    items = pairs + extra
    if not items:
        return ""
    inner = ",".join(f'{name}="{_escape(value)}"' for name, value in items)
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class Counter:
    """A monotonically increasing count per label set."""

    def __init__(self, name: str, help_text: str, label_names: tuple[str, ...]) -> None:
        self.name, self.help, self.label_names = name, help_text, label_names
        self.values: dict[tuple[str, ...], float] = {}

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        """Add ``amount`` to the series of ``labels`` (in ``label_names`` order)."""
        self.values[labels] = self.values.get(labels, 0.0) + amount

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} counter"
        for labels, value in sorted(self.values.items()):
            pairs = tuple(zip(self.label_names, labels, strict=True))
            yield f"{self.name}{_labels(pairs)} {_number(value)}"


class Histogram:
    """Observations in cumulative buckets, per label set."""

    def __init__(
        self,
        name: str,
        help_text: str,
        label_names: tuple[str, ...],
        buckets: tuple[float, ...] = LATENCY_BUCKETS,
    ) -> None:
        self.name, self.help, self.label_names = name, help_text, label_names
        self.buckets = buckets
        self.series: dict[tuple[str, ...], list[float]] = {}

    def observe(self, value: float, *labels: str) -> None:
        """Record ``value`` (in the buckets' unit: seconds for latencies) for ``labels``."""
        counts = self.series.get(labels)
        if counts is None:
            # One count per bucket, then +Inf, then the sum.
            counts = self.series[labels] = [0.0] * (len(self.buckets) + 2)
        counts[bisect.bisect_left(self.buckets, value)] += 1
        counts[-1] += value

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} histogram"
        for labels, counts in sorted(self.series.items()):
            pairs = tuple(zip(self.label_names, labels, strict=True))
            running = 0.0
            for bound, count in zip((*self.buckets, math.inf), counts[:-1], strict=True):
                running += count
                le = (("le", _number(bound)),)
                yield f"{self.name}_bucket{_labels(pairs, le)} {_number(running)}"
            yield f"{self.name}_sum{_labels(pairs)} {_number(counts[-1])}"
            yield f"{self.name}_count{_labels(pairs)} {_number(running)}"


class Metrics:
    """Every metric the service exports."""

    def __init__(self) -> None:
        self.requests = Counter(
            "altlas_requests_total",
            "HTTP requests by route, method, model and status.",
            ("route", "method", "model", "status"),
        )
        self.request_seconds = Histogram(
            "altlas_request_duration_seconds",
            "HTTP request handling time by route.",
            ("route",),
        )
        self.queue_seconds = Histogram(
            "altlas_queue_wait_seconds", "Time inference calls waited for a slot.", ("model",)
        )
        self.inference_seconds = Histogram(
            "altlas_inference_duration_seconds",
            "Time inference calls spent in the backend.",
            ("model",),
        )
        self.cache = Counter(
            "altlas_response_cache_total", "Response cache lookups by result.", ("result",)
        )
        self.orchestration = Counter(
            "altlas_orchestration_attempts_total",
            "Models tried by orchestrated requests, by outcome (ok, error, timeout, "
            "overloaded, skipped).",
            ("model", "outcome"),
        )
        self.api_key_requests = Counter(
            "altlas_api_key_requests_total",
            "HTTP requests by API key name (never the key) and status, while keys are on; "
            "'unauthenticated' counts requests without a valid key.",
            ("key", "status"),
        )
        self.batch_size = Histogram(
            "altlas_batch_size",
            "Requests per coalesced backend call (dynamic batching).",
            ("model",),
            buckets=BATCH_SIZE_BUCKETS,
        )

    def render(self, runtime: Runtime) -> str:
        """The whole exposition, including values read from ``runtime`` now."""
        lines: list[str] = []
        for family in (
            self.requests,
            self.request_seconds,
            self.queue_seconds,
            self.inference_seconds,
            self.cache,
            self.orchestration,
            self.api_key_requests,
            self.batch_size,
        ):
            lines.extend(family.render())
        lines.extend(_runtime_gauges(runtime))
        return "\n".join(lines) + "\n"


def _gauge(name: str, help_text: str, samples: Iterable[tuple[Labels, float]]) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
    lines.extend(f"{name}{_labels(labels)} {_number(value)}" for labels, value in samples)
    return lines


def _runtime_gauges(runtime: Runtime) -> list[str]:
    manager = runtime.models
    holdings = manager.holdings()
    lanes = runtime.inference.scheduler.lanes
    lines = _gauge(
        "altlas_model_loaded",
        "1 for each model in memory.",
        [((("model", held.model_id),), 1.0) for held in holdings if held.state == "loaded"],
    )
    lines += _gauge(
        "altlas_model_memory_bytes",
        "Memory a model holds (measured after loading, else estimated).",
        [
            ((("model", held.model_id), ("kind", kind)), float(size))
            for held in holdings
            for kind, size in (("ram", held.ram_bytes), ("gpu", held.gpu_bytes))
        ],
    )
    lines += _gauge(
        "altlas_queue_depth",
        "Calls waiting for a slot, per model.",
        [((("model", mid),), float(lane.queued)) for mid, lane in sorted(lanes.items())],
    )
    lines += _gauge(
        "altlas_in_flight",
        "Calls running in the backend, per model.",
        [((("model", mid),), float(lane.running)) for mid, lane in sorted(lanes.items())],
    )
    cache = runtime.inference.cache.cache
    if cache is not None:
        lines += [
            "# HELP altlas_response_cache_evictions_total Entries the response cache removed "
            "to stay within its size bound.",
            "# TYPE altlas_response_cache_evictions_total counter",
            f"altlas_response_cache_evictions_total{_labels((('cache', cache.name),))} "
            f"{_number(cache.evictions)}",
        ]
    breakers = runtime.breakers
    lines += _gauge(
        "altlas_circuit_open",
        "1 while a model's circuit breaker is open or half-open (orchestration skips it).",
        [
            ((("model", model_id), ("state", breakers.state(model_id))), 1.0)
            for model_id in breakers.tripped()
        ],
    )
    lines += [
        "# HELP altlas_model_events_total Model loads, failed loads and unloads by reason.",
        "# TYPE altlas_model_events_total counter",
    ]
    for (event, model_id), count in sorted(manager.counts.items()):
        lines.append(
            f"altlas_model_events_total"
            f"{_labels((('event', event), ('model', model_id)))} {_number(count)}"
        )
    lines += [
        "# HELP altlas_model_crashes_total Times a model's host process died (a native "
        "crash, a kill, out of memory).",
        "# TYPE altlas_model_crashes_total counter",
    ]
    for model_id, count in sorted(manager.crash_counts().items()):
        lines.append(
            f"altlas_model_crashes_total{_labels((('model', model_id),))} {_number(count)}"
        )
    return lines
