"""Orchestrated inference on real models: strategies and constraints over the two real
MiniLM embedding models and real ONNX classifiers built here, ensembles, fallback and
circuit breakers stepping over models that fail or hang on purpose."""

from __future__ import annotations

import json
import math
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

L6 = "all-minilm-l6-v2"
L3 = "paraphrase-minilm-l3-v2"
ROUTE = "/api/inference/orchestrated"
WITH_FLAKY = "fixture-clash,fixture-future"
# Each attempt's timeout where a model hangs on purpose: seconds, so that a real model
# (loaded beforehand) never runs out of it on a busy machine.
HANG_TIMEOUT_MS = 3000


@pytest.fixture
def flaky(fixture_plugins):
    import altlas_fixture_flaky

    altlas_fixture_flaky.CALLS.clear()
    return altlas_fixture_flaky


@pytest.fixture
def client(make_runtime, serve):
    with serve(make_runtime(ALTLAS_LOAD_PLUGINS="onnx", RESPONSE_CACHE="none")) as client:
        yield client


def embed(client, model_id: str, texts: list[str]) -> list[list[float]]:
    response = client.post(
        "/api/inference/", json={"model_id": model_id, "inputs": texts, "cache": False}
    )
    assert response.status_code == 200, response.text
    return response.json()["outputs"]["embeddings"]


def orchestrate(client, **body):
    body.setdefault("inputs", ["a cat sleeps on the sofa"])
    body.setdefault("task_type", "embedding")
    return client.post(ROUTE, json=body)


# --- strategies ---------------------------------------------------------------------


def test_performance_uses_catalog_priors_before_traffic_and_counts_load_time(client):
    # Nothing loaded: both pay an unknown load; L3's latency_ms prior (3 ms) beats L6's.
    first = orchestrate(client, strategy="performance")
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["model_id"] == L3
    ranking = body["orchestration"]["ranking"]
    assert [r["model_id"] for r in ranking] == [L3, L6]
    assert "catalog latency_ms" in ranking[0]["reason"]
    assert "to load" in ranking[1]["reason"]
    assert body["orchestration"]["strategy"] == "performance"
    assert body["orchestration"]["attempts"][0]["outcome"] == "ok"

    # Unload L3, load L6: the loaded model wins although its call is slower, because
    # loading the other costs more than the difference.
    assert client.post(f"/api/models/{L3}/unload").status_code == 200
    assert client.post(f"/api/models/{L6}/load").status_code == 200
    second = orchestrate(client, strategy="performance").json()
    assert second["model_id"] == L6
    assert "loaded" in second["orchestration"]["ranking"][0]["reason"]


def test_performance_prefers_measured_latency_to_priors(client):
    for model_id in (L6, L3):
        embed(client, model_id, ["warm up"])
    body = orchestrate(client, strategy="performance").json()
    reasons = {r["model_id"]: r["reason"] for r in body["orchestration"]["ranking"]}
    assert all("measured over" in reason for reason in reasons.values()), reasons
    order = [r["model_id"] for r in body["orchestration"]["ranking"]]
    expected_ms = [float(reasons[m].split()[1]) for m in order]  # "expected 7.1 ms: ..."
    assert expected_ms == sorted(expected_ms)
    assert body["model_id"] == body["orchestration"]["ranking"][0]["model_id"]


def test_accuracy_and_cost_strategies_read_the_measured_tags(client):
    accurate = orchestrate(client, strategy="accuracy").json()
    assert accurate["model_id"] == L6
    assert accurate["orchestration"]["ranking"][0]["reason"].startswith("accuracy 0.7 (")
    cheap = orchestrate(client, strategy="cost").json()
    # The int8 L6 file is 23 MB, L3's 69 MB: memory is the cost when no price is given.
    assert cheap["model_id"] == L6
    assert "size_mb" in cheap["orchestration"]["ranking"][0]["reason"]


def test_constraints_exclude_models_and_say_why(client):
    # Nothing loaded yet: each must pay a load on top of its latency_ms prior.
    slow = orchestrate(client, constraints={"max_latency_ms": 5})
    assert slow.status_code == 404
    assert f"{L3}: expected 1003.0 ms > max_latency_ms 5" in slow.json()["error"]["message"]
    body = orchestrate(client, constraints={"min_accuracy": 0.68}, strategy="performance").json()
    assert body["model_id"] == L6
    assert body["orchestration"]["excluded"] == [
        {"model_id": L3, "reason": "accuracy 0.65 < min_accuracy 0.68"}
    ]
    cheap = orchestrate(client, constraints={"max_cost": 30}, strategy="accuracy").json()
    assert [r["model_id"] for r in cheap["orchestration"]["ranking"]] == [L6]

    none = orchestrate(client, constraints={"language": "fr"})
    assert none.status_code == 404
    error = none.json()["error"]
    assert error["code"] == "task_not_served"
    assert f"{L6}: language 'fr' not in its languages tag" in error["message"]


def test_model_id_list_limits_the_candidates(client):
    body = orchestrate(client, model_id=[L3], strategy="accuracy").json()
    assert body["model_id"] == L3 and body["models"] == [L3]


def test_the_default_selector_takes_a_strategy_and_the_word_auto(make_runtime, serve):
    runtime = make_runtime(ALTLAS_LOAD_PLUGINS="onnx", SELECTION_STRATEGY="performance")
    with serve(runtime) as client:
        response = client.post(
            "/api/inference/", json={"model_id": "auto", "task": "embedding", "inputs": "hi"}
        )
        assert response.status_code == 200, response.text
        assert response.json()["model_id"] == L3


def test_request_errors_are_one_4xx(client):
    cases = [
        ({"strategy": "nope"}, 422, "$.strategy"),
        ({"task_type": None}, 422, "$.task_type"),
        ({"model_id": L6}, 422, "$.model_id"),
        ({"model_id": [L6, L6]}, 422, "$.model_id[1]"),
        ({"model_id": ["no-such-model"]}, 404, "$.model_id"),
        ({"inputs": 5}, 422, "$.inputs"),
        ({"ensemble": True, "combiner": "nope"}, 422, "$.combiner"),
        ({"task_type": "tensor", "inputs": {"tensors": {}}}, 404, None),
        ({"constraints": {"max_latency_ms": -1}}, 422, "$.constraints.max_latency_ms"),
        ({"surprise": 1}, 422, "$.surprise"),
    ]
    for body, status, param in cases:
        response = orchestrate(client, **body)
        assert response.status_code == status, (body, response.text)
        error = response.json()["error"]
        assert set(error) == {"type", "message", "param", "code", "request_id"}
        if param is not None:
            assert error["param"] == param, (body, error)


# --- ensembles ----------------------------------------------------------------------


def test_embedding_ensemble_is_the_weighted_renormalized_mean(client):
    texts = ["a cat sleeps on the sofa", "stock markets fell sharply"]
    response = orchestrate(client, inputs=texts, ensemble=True)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_id"] == "ensemble"
    assert body["models"] == [L6, L3]  # the default strategy's order: L6 is the default
    assert body["orchestration"]["ensemble"] == {
        "combiner": "mean-embedding",
        "members": body["models"],
    }
    # Each member's vote is its accuracy tag: 0.70 for L6, 0.65 for L3.
    l6, l3 = np.array(embed(client, L6, texts)), np.array(embed(client, L3, texts))
    mean = (0.70 * l6 + 0.65 * l3) / 1.35
    mean /= np.linalg.norm(mean, axis=1, keepdims=True)
    got = np.array(body["outputs"]["embeddings"])
    assert np.allclose(got, mean, atol=1e-5)
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0)
    # Still an embedding: the paraphrase is nearer than the unrelated sentence.
    three = orchestrate(client, inputs=["a cat", "a kitten", "stock prices"], ensemble=True).json()[
        "outputs"
    ]["embeddings"]
    assert np.dot(three[0], three[1]) > np.dot(three[0], three[2]) + 0.3


def test_in_process_run_ensemble_inference(make_runtime):
    import asyncio

    import altlas
    from altlas.runtime import set_runtime
    from altlas_sdk import InferenceRequest

    runtime = make_runtime(ALTLAS_LOAD_PLUGINS="onnx")
    set_runtime(runtime)

    async def scenario():
        await runtime.start()
        try:
            orchestrator = altlas.get_model_orchestrator()
            return await orchestrator.run_ensemble_inference(
                InferenceRequest(model_id="auto", inputs=["What is the capital of France?"]),
                task_type="embedding",
            )
        finally:
            await runtime.stop()

    try:
        response = asyncio.run(scenario())
    finally:
        set_runtime(None)
    assert response.model_id == "ensemble" and len(response.models) == 2
    assert response.outputs.dimensions == 384
    assert math.isclose(sum(v * v for v in response.outputs.embeddings[0]), 1.0, rel_tol=1e-6)


def test_a_failing_member_is_dropped_and_reported(flaky, make_runtime, serve):
    runtime = make_runtime(
        ALTLAS_LOAD_PLUGINS="onnx,fixture-flaky", ALTLAS_DISABLE_PLUGINS=WITH_FLAKY
    )
    with serve(runtime) as client:
        body = orchestrate(client, ensemble=[L6, "flaky-broken", L3], inputs=["hi"]).json()
        assert body["models"] == [L6, L3]
        outcomes = {a["model_id"]: a["outcome"] for a in body["orchestration"]["attempts"]}
        assert outcomes == {L6: "ok", "flaky-broken": "error", L3: "ok"}
        assert "dropped flaky-broken" in body["orchestration"]["reason"]

        # A plugin's own combiner, named by the request.
        mine = orchestrate(client, ensemble=[L3, L6], combiner="fixture-first", inputs=["hi"])
        assert mine.json()["outputs"]["embeddings"] == embed(client, L3, ["hi"])

        # Every member failing is a 503 that names each.
        failed = orchestrate(client, ensemble=["flaky-broken"], inputs=["hi"])
        assert failed.status_code == 503
        assert failed.json()["error"]["code"] == "all_candidates_failed"
        assert "flaky-broken: error" in failed.json()["error"]["message"]


# --- fallback and circuit breakers --------------------------------------------------


def test_fallback_steps_over_a_broken_model(flaky, make_runtime, serve):
    runtime = make_runtime(
        ALTLAS_LOAD_PLUGINS="onnx,fixture-flaky", ALTLAS_DISABLE_PLUGINS=WITH_FLAKY
    )
    with serve(runtime) as client:
        # L6 loaded beforehand, and a timeout of seconds: only the hanging model, which
        # never answers, can run out of it, however busy the machine.
        assert client.post(f"/api/models/{L6}/load").status_code == 200
        response = orchestrate(client, strategy="accuracy", timeout_ms=HANG_TIMEOUT_MS)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["model_id"] == L6
        attempts = body["orchestration"]["attempts"]
        # Ties (both 0.99) keep catalog order.
        assert [(a["model_id"], a["outcome"]) for a in attempts] == [
            ("flaky-broken", "error"),
            ("flaky-hanging", "timeout"),
            (L6, "ok"),
        ]
        assert attempts[0]["error"]["type"] == "internal_error"
        assert body["orchestration"]["reason"].startswith(f"fell back to '{L6}'")
        assert body["outputs"]["embeddings"] == embed(client, L6, ["a cat sleeps on the sofa"])

        no_fallback = orchestrate(client, model_id=["flaky-broken", L6], fallback=False)
        assert no_fallback.status_code == 503
        assert no_fallback.json()["error"]["type"] == "unavailable_error"


def test_a_hanging_model_times_out_and_the_next_answers(flaky, make_runtime, serve):
    runtime = make_runtime(
        ALTLAS_LOAD_PLUGINS="onnx,fixture-flaky", ALTLAS_DISABLE_PLUGINS=WITH_FLAKY
    )
    with serve(runtime) as client:
        assert client.post(f"/api/models/{L3}/load").status_code == 200
        response = orchestrate(client, model_id=["flaky-hanging", L3], timeout_ms=HANG_TIMEOUT_MS)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["model_id"] == L3
        first = body["orchestration"]["attempts"][0]
        assert (first["model_id"], first["outcome"]) == ("flaky-hanging", "timeout")
        assert first["ms"] >= HANG_TIMEOUT_MS


def test_circuit_breaker_opens_then_half_opens(flaky, make_runtime, serve):
    runtime = make_runtime(
        ALTLAS_LOAD_PLUGINS="onnx,fixture-flaky",
        ALTLAS_DISABLE_PLUGINS=WITH_FLAKY,
        BREAKER_FAILURES="2",
        # Seconds: the checks made while the breaker is open take far less, even when
        # the machine is busy.
        BREAKER_COOLDOWN="3",
    )
    candidates = ["flaky-broken", L6]
    with serve(runtime) as client:
        for _ in range(2):
            attempts = orchestrate(client, model_id=candidates).json()["orchestration"]["attempts"]
            assert attempts[0]["outcome"] == "error"
        assert flaky.CALLS["flaky-broken"] == 2

        # Open: the broken model is skipped without being called.
        body = orchestrate(client, model_id=candidates).json()
        skipped = body["orchestration"]["attempts"][0]
        assert skipped["outcome"] == "skipped"
        assert skipped["error"]["code"] == "circuit_open"
        assert body["model_id"] == L6
        assert flaky.CALLS["flaky-broken"] == 2
        only = orchestrate(client, model_id=["flaky-broken"])
        assert only.status_code == 503 and only.json()["error"]["code"] == "circuit_open"
        assert int(only.headers["Retry-After"]) >= 1

        # After the cool-down one trial goes through; it fails, so the breaker reopens.
        deadline = time.monotonic() + 60
        while runtime.breakers.state("flaky-broken") == "open":
            assert time.monotonic() < deadline, "the breaker never half-opened"
            time.sleep(0.05)
        trial = orchestrate(client, model_id=candidates).json()["orchestration"]["attempts"]
        assert trial[0]["outcome"] == "error"
        assert flaky.CALLS["flaky-broken"] == 3
        again = orchestrate(client, model_id=candidates).json()["orchestration"]["attempts"]
        assert again[0]["outcome"] == "skipped"

        metrics = client.get("/metrics").text
        assert 'altlas_circuit_open{model="flaky-broken",state="open"} 1' in metrics
        assert 'altlas_orchestration_attempts_total{model="flaky-broken",outcome="error"} 3' in (
            metrics
        )
        assert 'altlas_orchestration_attempts_total{model="flaky-broken",outcome="skipped"} 3' in (
            metrics
        )

        # An ensemble of the best two leaves the open model out and takes the next two.
        ensemble = orchestrate(
            client,
            model_id=["flaky-broken", L6, L3],
            ensemble=True,
            max_members=2,
            strategy="accuracy",
        ).json()
        assert ensemble["models"] == [L6, L3]
        assert [a["outcome"] for a in ensemble["orchestration"]["attempts"]] == ["ok", "ok"]


def test_client_mistakes_do_not_fall_back_or_trip_the_breaker(flaky, make_runtime, serve):
    runtime = make_runtime(
        ALTLAS_LOAD_PLUGINS="onnx,fixture-flaky",
        ALTLAS_DISABLE_PLUGINS=WITH_FLAKY,
        BREAKER_FAILURES="1",
    )
    with serve(runtime) as client:
        bad = orchestrate(client, model_id=["flaky-broken", L6], inputs=5)
        assert bad.status_code == 422
        assert flaky.CALLS == {}
        assert runtime.breakers.state("flaky-broken") == "closed"


# --- streaming --------------------------------------------------------------------


def sse_events(text: str) -> list[tuple[str, str]]:
    """(event name, data) pairs of a server-sent events body."""
    events = []
    for block in text.strip().split("\n\n"):
        name, data = "message", ""
        for line in block.splitlines():
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                data = line[len("data: ") :]
        events.append((name, data))
    return events


SMOLLM = "smollm2-135m-instruct"


@pytest.fixture
def llm_client(flaky, make_runtime, serve):
    runtime = make_runtime(
        ALTLAS_LOAD_PLUGINS="llama-cpp,fixture-flaky", ALTLAS_DISABLE_PLUGINS=WITH_FLAKY
    )
    with serve(runtime) as client:
        yield client


def test_streaming_falls_back_before_the_first_chunk(llm_client):
    response = llm_client.post(
        ROUTE,
        json={
            "task_type": "text-generation",
            "model_id": ["flaky-broken", SMOLLM],
            "inputs": "The capital of France is",
            "parameters": {"max_tokens": 6, "temperature": 0},
            "stream": True,
        },
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    name, opening = events[0]
    assert name == "orchestration"
    report = json.loads(opening)
    assert report["model_id"] == SMOLLM
    outcomes = [(a["model_id"], a["outcome"]) for a in report["orchestration"]["attempts"]]
    assert outcomes == [("flaky-broken", "error"), (SMOLLM, "ok")]
    assert events[-1] == ("message", "[DONE]")
    text = "".join(json.loads(data)["text"] for _, data in events[1:-1])
    # Greedy decoding: the same text as the model answers without streaming.
    alone = llm_client.post(
        "/api/inference/",
        json={
            "model_id": SMOLLM,
            "inputs": "The capital of France is",
            "parameters": {"max_tokens": 6, "temperature": 0},
        },
    )
    assert text and text == alone.json()["outputs"]["text"]


def test_a_stream_that_started_is_never_retried(flaky, llm_client):
    response = llm_client.post(
        ROUTE,
        json={
            "task_type": "text-generation",
            "model_id": ["flaky-midstream", SMOLLM],
            "inputs": "The capital of France is",
            "stream": True,
        },
    )
    events = sse_events(response.text)
    assert json.loads(events[0][1])["model_id"] == "flaky-midstream"
    assert json.loads(events[1][1]) == {
        "text": "partial",
        "finish_reason": None,
        "usage": None,
        "logprobs": None,
    }
    name, data = events[2]
    assert name == "error" and len(events) == 3
    assert json.loads(data)["error"]["type"] == "internal_error"
    # The next candidate never ran: the client had already seen output.
    assert llm_client.get(f"/api/models/{SMOLLM}/status").json()["state"] != "loaded"
    assert flaky.CALLS == {"flaky-midstream": 1}

    ensemble = llm_client.post(
        ROUTE,
        json={"task_type": "text-generation", "inputs": "hi", "stream": True, "ensemble": True},
    )
    assert ensemble.status_code == 422 and ensemble.json()["error"]["param"] == "$.stream"


# --- real ONNX classifiers built in code --------------------------------------------


def _classifier(path: Path, weights: np.ndarray) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "W"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        ],
        "classifier",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 2])],
        [numpy_helper.from_array(weights.astype(np.float32), "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def test_strategies_over_onnx_classifiers_and_fallback_to_one(flaky, make_runtime, serve, tmp_path):
    models = tmp_path / "classifiers"
    models.mkdir()
    _classifier(models / "sharp.onnx", np.array([[4.0, -4.0], [-4.0, 4.0]]))
    _classifier(models / "soft.onnx", np.array([[1.0, -1.0], [-1.0, 1.0]]))
    config = tmp_path / "altlas.toml"
    config.write_text(
        f"""
[models.sharp]
backend = "onnx"
tasks = ["tensor"]
source = "{models / "sharp.onnx"}"
tags = {{ accuracy = 0.95, cost = 4, latency_ms = 2 }}

[models.soft]
backend = "onnx"
tasks = ["tensor"]
source = "{models / "soft.onnx"}"
tags = {{ accuracy = 0.80, cost = 1, latency_ms = 1 }}
"""
    )
    runtime = make_runtime(
        config_path=config,
        ALTLAS_LOAD_PLUGINS="onnx,fixture-flaky",
        ALTLAS_DISABLE_PLUGINS=WITH_FLAKY,
    )
    x = {"tensors": {"x": {"dtype": "float32", "shape": [1, 2], "data": [[1.0, 0.0]]}}}
    with serve(runtime) as client:
        picks = {}
        for strategy in ("accuracy", "cost"):
            body = orchestrate(
                client,
                task_type="tensor",
                inputs=x,
                strategy=strategy,
                model_id=["sharp", "soft"],
            ).json()
            picks[strategy] = body["model_id"]
            probabilities = body["outputs"]["tensors"]["probabilities"]["data"][0]
            logit = 8.0 if body["model_id"] == "sharp" else 2.0
            assert math.isclose(probabilities[0], 1 / (1 + math.exp(-logit)), rel_tol=1e-5)
        assert picks == {"accuracy": "sharp", "cost": "soft"}

        # No combiner merges tensors: an ensemble of them is refused up front.
        refused = orchestrate(client, task_type="tensor", inputs=x, ensemble=["sharp", "soft"])
        assert refused.status_code == 422
        assert refused.json()["error"]["code"] == "no_combiner"

        # The failing models rank first by every tag; the real classifiers answer.
        body = orchestrate(
            client, task_type="tensor", inputs=x, strategy="cost", timeout_ms=HANG_TIMEOUT_MS
        ).json()
        assert body["model_id"] == "soft"
        assert {a["model_id"] for a in body["orchestration"]["attempts"][:-1]} <= {
            "flaky-broken",
            "flaky-hanging",
        }


# --- plugins, OpenAPI, a real server ------------------------------------------------


def test_a_plugin_strategy_is_used(fixture_plugins, make_runtime, serve):
    with serve(make_runtime(ALTLAS_LOAD_PLUGINS="onnx,fixture-echo")) as client:
        body = orchestrate(client, strategy="fixture-last").json()
        assert body["orchestration"]["strategy"] == "fixture-last"
        assert body["model_id"] == body["orchestration"]["ranking"][0]["model_id"] == L3


def test_documented_in_openapi(client):
    document = client.get("/openapi.json").json()
    operation = document["paths"][ROUTE]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/OrchestratedRequest"
    )
    assert "OrchestratedResponse" in document["components"]["schemas"]
    assert "503" in operation["responses"]


def test_through_a_real_server(altlas_server):
    with altlas_server({"ALTLAS_LOAD_PLUGINS": "onnx"}) as client:
        response = client.post(
            ROUTE,
            json={"task_type": "embedding", "inputs": ["hello"], "strategy": "accuracy"},
        )
        assert response.status_code == 200, response.text
        assert response.json()["model_id"] == L6
        again = client.post(
            ROUTE,
            json={"task_type": "embedding", "inputs": ["hello"], "strategy": "accuracy"},
        )
        assert again.json()["from_cache"] is True


def test_performance_routes_around_a_busy_model(fixture_plugins, make_runtime, serve):
    import altlas_fixture_echo as echo  # its models take one call at once

    echo.HELD.clear()
    echo.RELEASE.clear()
    runtime = make_runtime(ALTLAS_LOAD_PLUGINS="fixture-echo", RESPONSE_CACHE="none")
    with serve(runtime) as client, ThreadPoolExecutor(2) as pool:
        for model_id in ("echo-1", "echo-2"):
            assert client.post(f"/api/models/{model_id}/load").status_code == 200
        # echo-1: one call running (held until released below), one queued behind it.
        busy = [
            pool.submit(
                client.post, "/api/inference/", json={"model_id": "echo-1", "inputs": "hold"}
            )
            for _ in range(2)
        ]
        lanes = runtime.inference.scheduler.lanes
        deadline = time.monotonic() + 60
        while not ("echo-1" in lanes and lanes["echo-1"].queued == 1 and echo.HELD.is_set()):
            assert time.monotonic() < deadline, "echo-1 never got busy"
            time.sleep(0.01)
        try:
            body = orchestrate(
                client, task_type="reverse-text", inputs="abc", strategy="performance"
            ).json()
        finally:
            echo.RELEASE.set()
        assert body["model_id"] == "echo-2" and body["outputs"] == {"text": "cba"}
        reasons = {r["model_id"]: r["reason"] for r in body["orchestration"]["ranking"]}
        assert "behind 1 running, 1 queued" in reasons["echo-1"]
        assert all(future.result().status_code == 200 for future in busy)
