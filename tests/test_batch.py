"""Batch and parallel inference: per-slot results and errors, native batching on the real
MiniLM model, concurrency for backends without native batching."""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest

ERROR_KEYS = {"type", "message", "param", "code", "request_id"}
RESPONSE_KEYS = {"model_id", "task", "outputs", "timing", "from_cache", "request_id"}
MINILM = "all-minilm-l6-v2"


def slot_error(slot: dict) -> dict:
    assert set(slot) == {"error"}, slot
    assert set(slot["error"]) == ERROR_KEYS
    return slot["error"]


@pytest.fixture
def echo(fixture_plugins):
    import altlas_fixture_echo

    altlas_fixture_echo.CALLS.clear()
    return altlas_fixture_echo


@pytest.fixture
def client(echo, make_runtime, serve):
    with serve(make_runtime()) as client:
        yield client


def test_batch_answers_in_order_and_fails_only_the_bad_slots(client, caplog):
    response = client.post(
        "/api/inference/batch",
        json={
            "requests": [
                {"model_id": "echo-1", "inputs": "abc"},
                {"model_id": "no-such-model", "inputs": "a dog"},
                {"model_id": "echo-2", "inputs": "xyz", "parameters": {"upper": True}},
                {"model_id": "echo-1", "inputs": {"text": 5}},
                {"model_id": "echo-1", "inputs": ""},
                {"model_id": "echo-1", "inputs": "explode"},
                {"inputs": "no model"},
                {"task": "reverse-text", "inputs": "by task"},
            ]
        },
        headers={"X-Request-ID": "req-batch"},
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == 8

    assert set(results[0]) == RESPONSE_KEYS
    assert results[0]["outputs"] == {"text": "cba"}
    assert results[0]["request_id"] == "req-batch"
    assert results[2]["model_id"] == "echo-2" and results[2]["outputs"] == {"text": "ZYX"}
    assert results[7]["model_id"] == "echo-1" and results[7]["outputs"] == {"text": "ksat yb"}

    missing = slot_error(results[1])
    assert (missing["code"], missing["param"]) == ("model_not_found", "$.model_id")
    assert missing["request_id"] == "req-batch"
    wrong_type = slot_error(results[3])
    assert (wrong_type["type"], wrong_type["param"]) == ("validation_error", "$.inputs.text")
    rejected = slot_error(results[4])
    assert (rejected["code"], rejected["param"]) == ("invalid_input", "$.inputs.text")
    internal = slot_error(results[5])
    assert internal["type"] == "internal_error" and internal["code"] in internal["message"]
    assert "exploded" not in response.text
    assert any(internal["code"] in r.getMessage() and r.exc_info for r in caplog.records)
    assert slot_error(results[6])["code"] == "missing_model_id"


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"requests": []}, 422, "$.requests"),
        ({}, 422, "$"),
        (
            {"requests": [{"model_id": "echo-1", "inputs": "x", "bogus": 1}]},
            422,
            "$.requests[0].bogus",
        ),
        ({"requests": [{"model_id": "echo-1"}]}, 422, "$.requests[0]"),
        ({"requests": "x"}, 422, "$.requests"),
        ({"requests": [{"inputs": "x"}], "extra": True}, 422, "$.extra"),
    ],
)
def test_batch_body_shape_is_checked_as_a_whole(client, body, status, param):
    response = client.post("/api/inference/batch", json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["param"] == param


def test_batch_and_parallel_check_content_type_and_json(client):
    for path in ("/api/inference/batch", "/api/inference/parallel"):
        plain = client.post(path, content=b"{}", headers={"content-type": "text/plain"})
        assert plain.status_code == 415
        assert plain.json()["error"]["param"] == "Content-Type"
        broken = client.post(path, content=b"{", headers={"content-type": "application/json"})
        assert broken.status_code == 400 and broken.json()["error"]["code"] == "invalid_json"
        assert client.get(path).status_code == 405


def test_requests_without_native_batching_run_concurrently(client, echo):
    # echo takes one call per model at once; a "rendezvous" call returns only once a
    # second one runs beside it: one after the other, the first would fail.
    echo.RENDEZVOUS.reset()
    response = client.post(
        "/api/inference/batch",
        json={
            "requests": [
                {"model_id": "echo-1", "inputs": "rendezvous"},
                {"model_id": "echo-2", "inputs": "rendezvous"},
            ]
        },
    )
    assert [r["outputs"]["text"] for r in response.json()["results"]] == ["suovzedner"] * 2
    assert echo.CALLS == {"echo-1": 1, "echo-2": 1}


def test_parallel_runs_one_input_on_each_model(client, echo):
    response = client.post(
        "/api/inference/parallel",
        json={
            "model_ids": ["echo-1", "echo-2", "no-such-model", "llama2-7b-q4"],
            "inputs": "abc",
            "parameters": {"upper": True},
        },
        headers={"X-Request-ID": "req-par"},
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert list(results) == ["echo-1", "echo-2", "no-such-model", "llama2-7b-q4"]
    assert results["echo-1"]["outputs"] == results["echo-2"]["outputs"] == {"text": "CBA"}
    assert results["echo-2"]["request_id"] == "req-par"
    assert slot_error(results["no-such-model"])["code"] == "model_not_found"
    # A model of another task: the parameters do not fit it, and only its slot says so.
    assert slot_error(results["llama2-7b-q4"])["param"] == "$.parameters.upper"
    assert echo.CALLS == {"echo-1": 1, "echo-2": 1}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model_ids": [], "inputs": "x"}, "$.model_ids"),
        ({"model_ids": ["echo-1"]}, "$"),
        ({"model_ids": ["echo-1"], "inputs": "x", "task": "reverse-text"}, "$.task"),
        ({"model_ids": "echo-1", "inputs": "x"}, "$.model_ids"),
    ],
)
def test_parallel_body_shape_is_checked(client, body, param):
    response = client.post("/api/inference/parallel", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["param"] == param


def test_parallel_rejects_a_model_named_twice(client):
    response = client.post(
        "/api/inference/parallel", json={"model_ids": ["echo-1", "echo-1"], "inputs": "x"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["param"] == "$.model_ids[1]"


@pytest.fixture(scope="module")
def minilm_client(tmp_path_factory):
    from starlette.testclient import TestClient

    from altlas.config import Settings
    from altlas.http.app import create_app
    from altlas.runtime import Runtime

    root = tmp_path_factory.mktemp("minilm")
    config = root / "altlas.toml"
    # An encoder whose file is not there: its loads fail with weights_missing.
    config.write_text(
        '[models.my-encoder]\nbackend = "onnx"\ntasks = ["embedding"]\n'
        'source = "my-encoder/model.onnx"\n'
    )
    environ = {"MODEL_DIR": str(root / "models"), "CACHE_DIR": str(root / "c")}
    runtime = Runtime(Settings.load(environ=environ, config_path=config))
    with TestClient(
        create_app(runtime), base_url="http://localhost", raise_server_exceptions=False
    ) as client:
        assert client.post(f"/api/models/{MINILM}/load").json()["state"] == "loaded"
        yield client


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_a_model_group_runs_as_one_native_batch(minilm_client):
    texts = ["A cat sits on the mat.", "A kitten rests on a rug.", "Bond yields rose."]
    # Computed, not stored: the batch below must run the model, not the response cache.
    single = [
        minilm_client.post(
            "/api/inference/", json={"model_id": MINILM, "inputs": text, "cache": False}
        ).json()
        for text in texts
    ]
    response = minilm_client.post(
        "/api/inference/batch",
        json={
            "requests": [
                {"model_id": MINILM, "inputs": texts[0]},
                {"model_id": MINILM, "inputs": [texts[1], texts[2]]},
                {"model_id": MINILM, "inputs": texts[0], "parameters": {"truncate": False}},
                {
                    "model_id": MINILM,
                    "inputs": " ".join(["word"] * 400),
                    "parameters": {"truncate": False},
                },
            ]
        },
    )
    results = response.json()["results"]
    first, pair, alone, too_long = results
    # One infer_batch call for the two requests with equal parameters: one shared timing.
    assert first["timing"]["inference_ms"] == pair["timing"]["inference_ms"]
    assert first["timing"]["queue_ms"] == pair["timing"]["queue_ms"]
    batched = first["outputs"]["embeddings"] + pair["outputs"]["embeddings"]
    for vector, reference in zip(batched, single, strict=True):
        assert cosine(vector, reference["outputs"]["embeddings"][0]) > 0.9999
    assert pair["outputs"]["usage"]["prompt_tokens"] == sum(
        s["outputs"]["usage"]["prompt_tokens"] for s in single[1:]
    )
    # Other parameters: a call of its own, whose rejected input fails only its slot.
    assert cosine(alone["outputs"]["embeddings"][0], batched[0]) > 0.9999
    rejected = slot_error(too_long)
    assert (rejected["code"], rejected["param"]) == ("invalid_input", "$.inputs.texts[0]")


def test_a_native_batch_mixes_with_other_slots(minilm_client):
    response = minilm_client.post(
        "/api/inference/batch",
        json={
            "requests": [
                {"model_id": MINILM, "inputs": "a cat"},
                {"model_id": MINILM, "task": "tensor", "inputs": {"tensors": {}}},
                {"model_id": "my-encoder", "inputs": "a dog"},
                {"model_id": "my-encoder", "inputs": "a bird"},
                {"model_id": MINILM, "inputs": "a kitten"},
            ]
        },
    )
    a_cat, wrong_task, missing, also_missing, a_kitten = response.json()["results"]
    assert cosine(a_cat["outputs"]["embeddings"][0], a_kitten["outputs"]["embeddings"][0]) > 0.5
    assert slot_error(wrong_task)["code"] == "task_mismatch"
    # The group of a model that cannot load fails as a group, and only its slots.
    assert slot_error(missing)["code"] == "weights_missing"
    assert "my-encoder/model.onnx" in slot_error(also_missing)["message"]


def test_parallel_on_minilm_matches_a_single_request(minilm_client):
    single = minilm_client.post("/api/inference/", json={"model_id": MINILM, "inputs": "a cat"})
    response = minilm_client.post(
        "/api/inference/parallel", json={"model_ids": [MINILM, "my-encoder"], "inputs": "a cat"}
    )
    results = response.json()["results"]
    reference = single.json()["outputs"]["embeddings"][0]
    assert cosine(results[MINILM]["outputs"]["embeddings"][0], reference) > 0.9999
    assert slot_error(results["my-encoder"])["code"] == "weights_missing"


def metric(client: httpx.Client, line_start: str) -> float:
    """The value of the Prometheus sample whose line starts so (0 when absent)."""
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def wait_for_metric(client: httpx.Client, line_start: str, value: float) -> None:
    deadline = time.monotonic() + 60
    while metric(client, line_start) != value:
        assert time.monotonic() < deadline, f"{line_start} never reached {value}"
        time.sleep(0.02)


def abandoned_post(client: httpx.Client, path: str, body: dict) -> socket.socket:
    """POST ``body`` on a raw connection and return it: the client leaves when the test
    closes it, at a moment chosen by the server's state rather than by a timeout."""
    url = client.base_url
    payload = json.dumps(body).encode()
    connection = socket.create_connection((url.host, url.port))
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {url.host}:{url.port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    connection.sendall(head.encode() + payload)
    return connection


def test_a_batch_whose_client_leaves_is_cancelled(altlas_server, tmp_path):
    # One slot for MiniLM: a batch still running after its client left would hold it.
    config = tmp_path / "altlas.toml"
    config.write_text(f"[models.{MINILM}]\nmax_concurrency = 1\n")
    long = [
        f"Sentence {i} is about cats, kittens and a few other small animals." for i in range(3000)
    ]
    body = {"requests": [{"model_id": MINILM, "inputs": long}, {"model_id": MINILM, "inputs": "x"}]}
    runs = f'altlas_inference_duration_seconds_count{{model="{MINILM}"'
    # No response cache: the abandoned batch runs the model.
    env = {"ALTLAS_CONFIG": str(config), "ALTLAS_LOAD_PLUGINS": "onnx", "RESPONSE_CACHE": "none"}
    env["MAX_EMBEDDING_INPUTS"] = "0"  # the long input is over the default cap
    with altlas_server(env) as client:
        assert client.post("/api/models/all-minilm-l6-v2/load").is_success
        short = {
            "requests": [{"model_id": MINILM, "inputs": "a"}, {"model_id": MINILM, "inputs": "b"}]
        }
        full = client.post("/api/inference/batch", json=short)
        assert [set(r) for r in full.json()["results"]] == [RESPONSE_KEYS, RESPONSE_KEYS]
        before = metric(client, runs)

        # The client leaves while the long input runs.
        connection = abandoned_post(client, "/api/inference/batch", body)
        wait_for_metric(client, f'altlas_in_flight{{model="{MINILM}"}}', 1)
        connection.close()
        wait_for_metric(client, f'altlas_in_flight{{model="{MINILM}"}}', 0)
        after = client.post("/api/inference/", json={"model_id": MINILM, "inputs": "next"})
        assert after.status_code == 200
        # Only "next" completed: the long input stopped and the batch's second request
        # never ran.
        assert metric(client, runs) == before + 1


def test_a_large_batch_does_not_overflow_its_model_queue(client, echo):
    # echo takes one call at a time and queues at most MAX_QUEUE (64) more: the batch
    # feeds it no faster than it runs, so none of its own requests is refused.
    requests = [{"model_id": "echo-1", "inputs": f"text {i}"} for i in range(150)]
    response = client.post("/api/inference/batch", json={"requests": requests})
    results = response.json()["results"]
    assert [r["outputs"]["text"] for r in results] == [f"text {i}"[::-1] for i in range(150)]
    assert echo.CALLS == {"echo-1": 150}
