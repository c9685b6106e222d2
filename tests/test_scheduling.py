"""Scheduling through a real server on the real MiniLM model: a full queue and a run-out
wait are a fast 503 with Retry-After and never run later; a client that disconnects
frees its slot (queued: dropped; running: cancelled between batches)."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

MODEL = "all-minilm-l6-v2"
# Long enough that one request holds the model's only slot for a second or more.
LONG = [
    f"Sentence number {i} is about cats, kittens and a few other small animals."
    for i in range(3000)
]


def sample(metrics: str, name: str, **labels: str) -> float:
    """The value of one sample of the Prometheus text (0 when absent)."""
    wanted = ",".join(f'{key}="{value}"' for key, value in labels.items())
    for line in metrics.splitlines():
        if line.startswith(f"{name}{{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
        if not labels and line.startswith(f"{name} "):
            return float(line.rsplit(" ", 1)[1])
    assert wanted is not None
    return 0.0


def wait_for(client: httpx.Client, name: str, value: float, **labels: str) -> None:
    deadline = time.monotonic() + 20
    while sample(client.get("/metrics").text, name, **labels) != value:
        assert time.monotonic() < deadline, f"{name}{labels} never reached {value}"
        time.sleep(0.02)


def runs(client: httpx.Client) -> float:
    return sample(
        client.get("/metrics").text, "altlas_inference_duration_seconds_count", model=MODEL
    )


@pytest.fixture
def one_slot(altlas_server, tmp_path: Path):
    """A server whose MiniLM takes one call at a time and queues at most one more, with
    no response cache: a repeated request runs the model again."""

    def start(**env: str):
        config = tmp_path / "altlas.toml"
        config.write_text(f"[models.{MODEL}]\nmax_concurrency = 1\nmax_queue = 1\n")
        return altlas_server(
            {
                "ALTLAS_CONFIG": str(config),
                "ALTLAS_LOAD_PLUGINS": "onnx",
                "RESPONSE_CACHE": "none",
                # LONG is more texts than one embedding call may have by default.
                "MAX_EMBEDDING_INPUTS": "0",
                **env,
            },
            timeout=300,
        )

    return start


def post(client: httpx.Client, texts: list[str], **kwargs) -> httpx.Response:
    return client.post("/api/inference/", json={"model_id": MODEL, "inputs": texts}, **kwargs)


def in_background(fn) -> tuple[threading.Thread, dict]:
    result: dict = {}

    def target():
        try:
            result["response"] = fn()
        except httpx.HTTPError as error:
            result["error"] = error

    thread = threading.Thread(target=target)
    thread.start()
    return thread, result


def test_a_full_queue_is_a_fast_503_and_the_refused_call_never_runs(one_slot):
    # A wait long enough for a busy machine: only the queue bound refuses here.
    with one_slot(QUEUE_TIMEOUT="300") as client:
        assert post(client, ["warm up"]).is_success
        before = runs(client)
        first, first_result = in_background(lambda: post(client, LONG))
        wait_for(client, "altlas_in_flight", 1, model=MODEL)
        # Queued behind it (short: it only has to wait its turn).
        second, second_result = in_background(lambda: post(client, ["second"]))
        wait_for(client, "altlas_queue_depth", 1, model=MODEL)

        # Refused at once, while the first still runs: not after a wait.
        refused = post(client, ["one more"])
        assert refused.status_code == 503
        assert int(refused.headers["Retry-After"]) >= 1
        error = refused.json()["error"]
        assert error["type"] == "overloaded_error" and "max_queue 1" in error["message"]

        first.join()
        second.join()
        assert first_result["response"].status_code == 200
        assert second_result["response"].status_code == 200, second_result["response"].text
        assert second_result["response"].json()["timing"]["queue_ms"] > 100
        assert runs(client) == before + 2  # the refused call never ran
        metrics = client.get("/metrics").text
        assert sample(metrics, "altlas_requests_total", route="/api/inference/", status="503") == 1


def test_a_wait_that_runs_out_is_a_503_and_never_runs_later(one_slot):
    # The wait runs out well before LONG ends, on a busy machine too (where LONG only
    # takes longer); the wait is checked to have lasted, never to have been short.
    with one_slot(QUEUE_TIMEOUT="0.3") as client:
        assert post(client, ["warm up"]).is_success
        before = runs(client)
        first, first_result = in_background(lambda: post(client, LONG))
        wait_for(client, "altlas_in_flight", 1, model=MODEL)
        started = time.monotonic()
        waited = post(client, ["short"])
        assert waited.status_code == 503 and time.monotonic() - started >= 0.25
        assert "QUEUE_TIMEOUT" in waited.json()["error"]["message"]
        first.join()
        assert first_result["response"].status_code == 200
        # A request sent now runs after anything still queued: once it has run, the
        # refused one is known never to run.
        assert post(client, ["later"]).is_success
        assert runs(client) == before + 2


def abandoned_post(client: httpx.Client, texts: list[str]) -> socket.socket:
    """POST ``texts`` on a raw connection and return it: the client leaves when the
    test closes it, at a moment chosen by the server's state rather than by a timeout."""
    url = client.base_url
    payload = json.dumps({"model_id": MODEL, "inputs": texts}).encode()
    connection = socket.create_connection((url.host, url.port))
    head = (
        f"POST /api/inference/ HTTP/1.1\r\nHost: {url.host}:{url.port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    connection.sendall(head.encode() + payload)
    return connection


def test_a_client_that_disconnects_frees_its_slot(one_slot):
    with one_slot() as client:
        assert post(client, ["warm up"]).is_success
        before = runs(client)

        # Running: its client leaves; the server cancels it between batches.
        running = abandoned_post(client, LONG)
        wait_for(client, "altlas_in_flight", 1, model=MODEL)
        # Queued behind it: its client leaves too, and it is dropped from the queue.
        queued = abandoned_post(client, LONG)
        wait_for(client, "altlas_queue_depth", 1, model=MODEL)
        queued.close()
        wait_for(client, "altlas_queue_depth", 0, model=MODEL)
        running.close()
        wait_for(client, "altlas_in_flight", 0, model=MODEL)

        after = post(client, ["next"])
        assert after.status_code == 200
        wait_for(client, "altlas_in_flight", 0, model=MODEL)
        wait_for(client, "altlas_requests_total", 2, route="/api/inference/", status="499")
        # Only "next" completed: the cancelled call stopped, the queued one never ran.
        assert runs(client) == before + 1
