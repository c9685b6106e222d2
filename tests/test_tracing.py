"""Tracing: the spans of one request's stages, in the OpenTelemetry SDK's in-memory
exporter; the same spans from a real ``altlas serve`` over OTLP/HTTP to a loopback
collector; and nothing of OpenTelemetry imported while tracing is off."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from altlas import tracing
from conftest import altlas_command, free_port

STAGES = ["altlas.select", "altlas.load", "altlas.queue", "altlas.inference", "altlas.encode"]
BODY = {"model_id": "echo-1", "inputs": "hello"}


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use(provider)
    try:
        yield exporter
    finally:
        tracing.use(None)
        provider.shutdown()


def test_one_request_is_a_server_span_with_a_child_per_stage(
    spans, fixture_plugins, make_runtime, serve
) -> None:
    caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    with serve(make_runtime(ALTLAS_LOAD_PLUGINS="fixture-echo")) as client:
        answer = client.post(
            "/api/inference/",
            json=BODY,
            headers={"traceparent": f"00-{caller_trace}-00f067aa0ba902b7-01"},
        )
        assert answer.status_code == 200
        request_id = answer.headers["x-request-id"]
        finished = spans.get_finished_spans()

    (server,) = [s for s in finished if s.name == "POST /api/inference/"]
    # The caller's trace goes on: its span is the server span's parent.
    assert f"{server.context.trace_id:032x}" == caller_trace
    assert server.parent is not None and f"{server.parent.span_id:016x}" == "00f067aa0ba902b7"
    assert server.attributes["http.route"] == "/api/inference/"
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes["altlas.request_id"] == request_id
    assert server.attributes["altlas.model"] == "echo-1"

    children = {
        s.name: s for s in finished if s.parent and s.parent.span_id == server.context.span_id
    }
    assert set(STAGES) <= set(children), sorted(children)
    assert children["altlas.cache"].attributes["altlas.cache.hit"] is False
    for name in ("altlas.load", "altlas.queue", "altlas.inference"):
        assert children[name].attributes["altlas.model"] == "echo-1"
    # In order, within the request.
    ordered = [children[name] for name in STAGES]
    for earlier, later in itertools.pairwise(ordered):
        assert earlier.start_time <= later.start_time, (earlier.name, later.name)
    assert children["altlas.queue"].end_time <= children["altlas.inference"].start_time + 1
    assert server.start_time <= ordered[0].start_time
    assert ordered[-1].end_time <= server.end_time


def test_a_cached_answer_has_no_load_queue_or_inference(
    spans, fixture_plugins, make_runtime, serve
) -> None:
    with serve(make_runtime(ALTLAS_LOAD_PLUGINS="fixture-echo")) as client:
        assert client.post("/api/inference/", json=BODY).status_code == 200
        spans.clear()
        assert client.post("/api/inference/", json=BODY).json()["from_cache"] is True
        names = [s.name for s in spans.get_finished_spans()]
        cache = [s for s in spans.get_finished_spans() if s.name == "altlas.cache"]
    assert "altlas.select" in names and "POST /api/inference/" in names
    assert cache[0].attributes["altlas.cache.hit"] is True
    assert not {"altlas.load", "altlas.queue", "altlas.inference"} & set(names)


class _Collector(BaseHTTPRequestHandler):
    """An OTLP/HTTP traces endpoint on loopback: keeps each export request's body."""

    bodies: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        if self.path == "/v1/traces":
            type(self).bodies.append(body)
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _exported(bodies: list[bytes]) -> list[tuple[str, str, str]]:
    """(service name, span name, trace id) of every span in the export requests."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    found = []
    for body in bodies:
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    found.append((attributes["service.name"], span.name, span.trace_id.hex()))
    return found


def test_a_real_server_exports_its_spans_over_otlp(
    run_server, base_env, installed_fixture_plugins
) -> None:
    _Collector.bodies = []
    collector = ThreadingHTTPServer(("127.0.0.1", free_port()), _Collector)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    env = {
        **base_env,
        "PYTHONPATH": str(installed_fixture_plugins),
        "ALTLAS_LOAD_PLUGINS": "fixture-echo",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{collector.server_address[1]}",
        "OTEL_SERVICE_NAME": "altlas-under-test",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    import httpx

    try:
        with run_server(altlas_command, env) as server:
            trace = "0af7651916cd43dd8448eb211c80319c"
            answer = httpx.post(
                f"{server.base}/api/inference/",
                json=BODY,
                headers={"traceparent": f"00-{trace}-b7ad6b7169203331-01"},
                timeout=60,
            )
            assert answer.status_code == 200
            deadline = time.monotonic() + 60
            while True:
                ours = {name for service, name, t in _exported(_Collector.bodies) if t == trace}
                if {"POST /api/inference/", *STAGES} <= ours:
                    break
                assert time.monotonic() < deadline, ours
                time.sleep(0.1)
    finally:
        collector.shutdown()
        collector.server_close()
    assert {service for service, _, _ in _exported(_Collector.bodies)} == {"altlas-under-test"}


def test_nothing_of_opentelemetry_is_imported_while_tracing_is_off(
    base_env, installed_fixture_plugins
) -> None:
    script = """
import json, os, sys
from altlas_sdk.testing.service import build_runtime, serve

with serve(build_runtime(os.environ)) as client:
    status = client.post("/api/inference/", json={"model_id": "echo-1", "inputs": "x"}).status_code
    client.get("/metrics")
loaded = sorted(name for name in sys.modules if name.split(".")[0] == "opentelemetry")
print(json.dumps({"status": status, "loaded": loaded}))
"""
    env = {
        **base_env,
        "PYTHONPATH": str(installed_fixture_plugins),
        "ALTLAS_LOAD_PLUGINS": "fixture-echo",
        "LOG_LEVEL": "WARNING",
    }
    environ = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**environ, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"status": 200, "loaded": []}
