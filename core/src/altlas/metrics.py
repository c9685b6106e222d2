"""Prometheus metrics on ``prometheus_client``.

Each :class:`Metrics` has a registry of its own (a process may build several runtimes:
the tests do). Counters and histograms are observed where things happen (routes, the
inference service, the cache step, the batcher); the values that live elsewhere (loaded
models, memory, queue depth, open breakers, the manager's load and crash counts, cache
evictions) are published from the runtime's state by :meth:`Metrics.refresh`: just
before each scrape, and every second in every worker when there are several.

Several worker processes (``altlas serve --workers N``, or any ASGI server's workers
with ``PROMETHEUS_MULTIPROC_DIR`` set) use ``prometheus_client``'s multiprocess mode:
each process writes its values to files in that folder, and a scrape, whichever worker
answers it, merges them all. Counters and histograms add up across workers; gauges are
the sum over live workers. The mode is ``prometheus_client``'s choice, made when it is
first imported, so the folder must be in the environment before that.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import prometheus_client
from prometheus_client import CollectorRegistry, generate_latest, values
from prometheus_client import multiprocess as prometheus_multiprocess

if TYPE_CHECKING:
    from altlas.runtime import Runtime

# The `_created` series double the series count for a start time only OpenMetrics
# scrapers read; the multiprocess mode has none either, so both modes look alike.
prometheus_client.disable_created_metrics()

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

#: The exposition's content type: the text format that ``generate_latest`` writes.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: Seconds between two publications of the runtime's state by each worker, when
#: several processes share the metrics.
REFRESH_SECONDS = 1.0

Labels = tuple[str, ...]


def multiprocess_dir() -> Path | None:
    """The folder of the multiprocess mode, or ``None`` when this process's values are
    its own (what ``prometheus_client`` decided when it was imported)."""
    if values.ValueClass is values.MutexValue:
        return None
    found = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir")
    return Path(found) if found else None


class Counter:
    """A ``prometheus_client`` counter, incremented as ``inc(*labels)``."""

    def __init__(
        self, name: str, help_text: str, label_names: Labels, registry: CollectorRegistry
    ) -> None:
        self.family = prometheus_client.Counter(name, help_text, label_names, registry=registry)
        # The library's labels() validates and locks on every call: the hot path looks
        # each label set's child up here instead.
        self._children: dict[Labels, Any] = {}

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        """Add ``amount`` to the series of ``labels`` (in ``label_names`` order)."""
        child = self._children.get(labels)
        if child is None:
            child = self._children[labels] = self.family.labels(*labels)
        child.inc(amount)


class Histogram:
    """A ``prometheus_client`` histogram, observed as ``observe(value, *labels)``."""

    def __init__(
        self,
        name: str,
        help_text: str,
        label_names: Labels,
        registry: CollectorRegistry,
        buckets: tuple[float, ...] = LATENCY_BUCKETS,
    ) -> None:
        self.family = prometheus_client.Histogram(
            name, help_text, label_names, registry=registry, buckets=buckets
        )
        self._children: dict[Labels, Any] = {}

    def observe(self, value: float, *labels: str) -> None:
        """Record ``value`` (in the buckets' unit: seconds for latencies) for ``labels``."""
        child = self._children.get(labels)
        if child is None:
            child = self._children[labels] = self.family.labels(*labels)
        child.observe(value)


class _StateGauge:
    """A gauge set from the runtime's state at each refresh. A series the state no
    longer has is set to 0 and dropped: gone from this process's exposition, and 0 in
    the multiprocess files, which keep every series a process ever wrote."""

    def __init__(
        self, name: str, help_text: str, label_names: Labels, registry: CollectorRegistry
    ) -> None:
        self.family = prometheus_client.Gauge(
            name, help_text, label_names, registry=registry, multiprocess_mode="livesum"
        )
        self._seen: set[Labels] = set()

    def publish(self, state: dict[Labels, float]) -> None:
        for labels in self._seen - state.keys():
            self.family.labels(*labels).set(0)
            self.family.remove(*labels)
        for labels, value in state.items():
            self.family.labels(*labels).set(value)
        self._seen = set(state)


class _MirroredCounter:
    """A counter that follows a count kept elsewhere (the manager's load events, a
    cache's evictions): each refresh adds what the count gained since the last."""

    def __init__(
        self, name: str, help_text: str, label_names: Labels, registry: CollectorRegistry
    ) -> None:
        self.family = prometheus_client.Counter(name, help_text, label_names, registry=registry)
        self._published: dict[Labels, float] = {}

    def publish(self, totals: dict[Labels, float]) -> None:
        for labels, total in totals.items():
            # labels() alone exports the series at 0: a cache that evicted nothing yet.
            child = self.family.labels(*labels)
            last = self._published.get(labels, 0.0)
            # A count below the last one started again (a model loaded anew).
            gained = total - last if total >= last else total
            if gained > 0:
                child.inc(gained)
            self._published[labels] = total


class Metrics:
    """Every metric the service exports."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.multiprocess_dir = multiprocess_dir()
        self.requests = Counter(
            "altlas_requests_total",
            "HTTP requests by route, method, model and status.",
            ("route", "method", "model", "status"),
            registry,
        )
        self.request_seconds = Histogram(
            "altlas_request_duration_seconds",
            "HTTP request handling time by route.",
            ("route",),
            registry,
        )
        self.queue_seconds = Histogram(
            "altlas_queue_wait_seconds",
            "Time inference calls waited for a slot.",
            ("model",),
            registry,
        )
        self.inference_seconds = Histogram(
            "altlas_inference_duration_seconds",
            "Time inference calls spent in the backend.",
            ("model",),
            registry,
        )
        self.cache = Counter(
            "altlas_response_cache_total",
            "Response cache lookups by result.",
            ("result",),
            registry,
        )
        self.orchestration = Counter(
            "altlas_orchestration_attempts_total",
            "Models tried by orchestrated requests, by outcome (ok, error, timeout, "
            "overloaded, skipped).",
            ("model", "outcome"),
            registry,
        )
        self.api_key_requests = Counter(
            "altlas_api_key_requests_total",
            "HTTP requests by API key name (never the key) and status, while keys are on; "
            "'unauthenticated' counts requests without a valid key.",
            ("key", "status"),
            registry,
        )
        self.batch_size = Histogram(
            "altlas_batch_size",
            "Requests per coalesced backend call (dynamic batching).",
            ("model",),
            registry,
            buckets=BATCH_SIZE_BUCKETS,
        )
        self._state = _RuntimeState(registry)
        self._refreshing: asyncio.Task[None] | None = None

    def refresh(self, runtime: Runtime) -> None:
        """Publish the values read from ``runtime`` (models, memory, queues, breakers,
        load and crash counts, cache evictions)."""
        self._state.publish(runtime)

    def render(self, runtime: Runtime) -> bytes:
        """The whole exposition (:data:`CONTENT_TYPE`), with ``runtime``'s state as of
        now; with several processes, every process's values merged."""
        self.refresh(runtime)
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        _forget_dead_processes(self.multiprocess_dir)
        merged = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(merged, path=str(self.multiprocess_dir))
        return generate_latest(merged)

    def start(self, runtime: Runtime) -> None:
        """With several processes, publish ``runtime``'s state every
        :data:`REFRESH_SECONDS`: a scrape answered by another worker reads it from the
        files. One process alone publishes at each scrape only."""
        if self.multiprocess_dir is not None and self._refreshing is None:
            self._refreshing = asyncio.ensure_future(self._refresh_every(runtime))

    async def _refresh_every(self, runtime: Runtime) -> None:
        while True:
            self.refresh(runtime)
            await asyncio.sleep(REFRESH_SECONDS)

    def stop(self) -> None:
        """Stop publishing; with several processes, this process's gauges leave the
        merged exposition (its counts stay in it)."""
        if self._refreshing is not None:
            self._refreshing.cancel()
            self._refreshing = None
        if self.multiprocess_dir is not None:
            prometheus_multiprocess.mark_process_dead(os.getpid(), str(self.multiprocess_dir))


def _forget_dead_processes(folder: Path) -> None:
    """Drop the live gauges of processes that died without stopping (a killed worker
    that the server replaced): their queue depths and loaded models are gone."""
    import psutil

    for path in folder.glob("gauge_live*_*.db"):
        pid = path.stem.rsplit("_", 1)[-1]
        if pid.isdigit() and not psutil.pid_exists(int(pid)):
            with contextlib.suppress(OSError):
                prometheus_multiprocess.mark_process_dead(int(pid), str(folder))


class _RuntimeState:
    """The metrics read from the runtime's state rather than observed as they happen."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.loaded = _StateGauge(
            "altlas_model_loaded", "1 for each model in memory.", ("model",), registry
        )
        self.memory = _StateGauge(
            "altlas_model_memory_bytes",
            "Memory a model holds (measured after loading, else estimated).",
            ("model", "kind"),
            registry,
        )
        self.budget = _StateGauge(
            "altlas_memory_budget_bytes",
            "Memory loaded models may hold together (RAM_MEMORY_LIMIT, GPU_MEMORY_LIMIT).",
            ("kind",),
            registry,
        )
        self.queued = _StateGauge(
            "altlas_queue_depth", "Calls waiting for a slot, per model.", ("model",), registry
        )
        self.running = _StateGauge(
            "altlas_in_flight", "Calls running in the backend, per model.", ("model",), registry
        )
        self.circuit = _StateGauge(
            "altlas_circuit_open",
            "1 while a model's circuit breaker is open or half-open (orchestration skips it).",
            ("model", "state"),
            registry,
        )
        # Exported only with a response cache: made at the first refresh that has one.
        self.evictions: _MirroredCounter | None = None
        self._registry = registry
        self.events = _MirroredCounter(
            "altlas_model_events_total",
            "Model loads, failed loads and unloads by reason.",
            ("event", "model"),
            registry,
        )
        self.crashes = _MirroredCounter(
            "altlas_model_crashes_total",
            "Times a model's host process died (a native crash, a kill, out of memory).",
            ("model",),
            registry,
        )
        self.model_counters = _MirroredCounter(
            "altlas_model_counter_total",
            "Counts a loaded model keeps of its own work (a prompt cache's hits and "
            "tokens reused...), by counter.",
            ("model", "counter"),
            registry,
        )

    def publish(self, runtime: Runtime) -> None:
        manager = runtime.models
        holdings = manager.holdings()
        self.loaded.publish({(h.model_id,): 1.0 for h in holdings if h.state == "loaded"})
        self.memory.publish(
            {
                (held.model_id, kind): float(size)
                for held in holdings
                for kind, size in (("ram", held.ram_bytes), ("gpu", held.gpu_bytes))
            }
        )
        settings = runtime.settings
        budgets = {("ram",): float(settings.ram_budget_bytes())}
        gpu = settings.gpu_budget_bytes()
        if gpu is not None:
            budgets[("gpu",)] = float(gpu)
        self.budget.publish(budgets)
        lanes = runtime.inference.scheduler.lanes
        self.queued.publish({(mid,): float(lane.queued) for mid, lane in lanes.items()})
        self.running.publish({(mid,): float(lane.running) for mid, lane in lanes.items()})
        breakers = runtime.breakers
        self.circuit.publish(
            {(mid, breakers.state(mid)): 1.0 for mid in breakers.tripped()},
        )
        cache = runtime.inference.cache.cache
        if cache is not None:
            if self.evictions is None:
                self.evictions = _MirroredCounter(
                    "altlas_response_cache_evictions_total",
                    "Entries the response cache removed to stay within its size bound.",
                    ("cache",),
                    self._registry,
                )
            self.evictions.publish({(cache.name,): float(cache.evictions)})
        self.events.publish({key: float(count) for key, count in manager.counts.items()})
        self.crashes.publish(
            {(mid,): float(count) for mid, count in manager.crash_counts().items()}
        )
        self.model_counters.publish(
            {
                (held.model_id, name): float(count)
                for held in holdings
                if (model := manager.loaded_model(held.model_id)) is not None
                for name, count in model.counters().items()
            }
        )
