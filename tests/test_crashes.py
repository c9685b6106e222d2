"""A model whose host process dies, as the core handles it, through the real app with
the echo fixture: its "crash" input plays the death (the call, and every later call on
that model, raise ModelCrashed as calls on a dead actor do). Every request in flight
answers 503 model_crashed, the status says what happened, the next request loads the
model again, repeated crashes back off, /readyz names a crashed pinned model, and the
orchestrator falls back and counts the crash against the model's breaker."""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from altlas.crashes import CRASH_BURST, CRASH_WINDOW_S, FIRST_BACKOFF_S, CrashRecord

MODEL = "echo-1"


@pytest.fixture
def echo(fixture_plugins):
    import altlas_fixture_echo

    altlas_fixture_echo.LOADS.clear()
    altlas_fixture_echo.HELD.clear()
    altlas_fixture_echo.RELEASE.clear()
    yield altlas_fixture_echo
    # A test that failed while a call or a load was held must not leave it waiting.
    altlas_fixture_echo.RELEASE.set()
    altlas_fixture_echo.LOAD_GATE.set()


def infer(client, text: str, model_id: str = MODEL):
    return client.post("/api/inference/", json={"model_id": model_id, "inputs": text})


def status(client, model_id: str = MODEL) -> dict:
    return client.get(f"/api/models/{model_id}/status").json()


def crashes_metric(client, model_id: str = MODEL) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f'altlas_model_crashes_total{{model="{model_id}"}}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def assert_crashed(response) -> dict:
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == "1"
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("unavailable_error", "model_crashed")
    assert f"model '{MODEL}' crashed" in error["message"]
    assert "killed by signal 9" in error["message"]
    return error


def test_a_crash_is_a_503_and_the_next_request_loads_the_model_again(echo, make_runtime, serve):
    runtime = make_runtime(ALTLAS_LOAD_PLUGINS="fixture-echo", RESPONSE_CACHE="none")
    with serve(runtime) as client:
        assert infer(client, "abc").json()["outputs"] == {"text": "cba"}
        assert status(client)["host"] == {
            "kind": "thread",
            "node": None,
            "pid": os.getpid(),
            "replicas": 1,
        }
        assert_crashed(infer(client, "crash"))

        after = status(client)
        assert after["state"] == "error" and "killed by signal 9" in after["detail"]
        assert after["crashes"] == 1 and "killed by signal 9" in after["last_exit"]
        assert after["host"] is None and after["memory_measured"] is None
        assert not runtime.models.is_loaded(MODEL)
        assert crashes_metric(client) == 1

        # The next request loads a fresh model and is served.
        assert infer(client, "abc").json()["outputs"] == {"text": "cba"}
        assert echo.LOADS[MODEL] == 2
        again = status(client)
        assert again["state"] == "loaded" and again["detail"] is None
        assert again["crashes"] == 1 and again["last_exit"] == after["last_exit"]
        # Other models never noticed.
        assert infer(client, "xyz", "echo-2").json()["outputs"] == {"text": "zyx"}
        assert status(client, "echo-2")["crashes"] == 0


def test_every_request_in_flight_on_the_dead_model_gets_the_503(
    echo, make_runtime, serve, tmp_path: Path
):
    config = tmp_path / "altlas.toml"
    config.write_text(f"[models.{MODEL}]\nmax_concurrency = 2\n")
    runtime = make_runtime(config, ALTLAS_LOAD_PLUGINS="fixture-echo", RESPONSE_CACHE="none")
    with serve(runtime) as client, ThreadPoolExecutor(1) as pool:
        assert client.post(f"/api/models/{MODEL}/load").status_code == 200
        held = pool.submit(infer, client, "hold")
        assert echo.HELD.wait(60), "the held call never started"
        # The model dies under the held call: the crashing call answers first...
        assert_crashed(infer(client, "crash"))
        echo.RELEASE.set()
        # ...and the call that was in flight on it answers the same 503.
        assert_crashed(held.result(timeout=60))
        # One death, counted once, however many requests saw it.
        assert status(client)["crashes"] == 1
        assert crashes_metric(client) == 1
        assert infer(client, "abc").status_code == 200


def test_a_crash_mid_stream_ends_the_stream_with_the_error(
    echo, make_runtime, serve, tmp_path: Path
):
    config = tmp_path / "altlas.toml"
    config.write_text(
        '[models.echo-chat]\nbackend = "echo"\ntasks = ["chat"]\n'
        'source = "package:altlas_fixture_echo/weights.txt"\n'
    )
    runtime = make_runtime(config, ALTLAS_LOAD_PLUGINS="fixture-echo", RESPONSE_CACHE="none")
    body = {"model": "echo-chat", "messages": [{"role": "user", "content": "crash"}]}
    with serve(runtime) as client:
        streamed = client.post("/v1/chat/completions", json={**body, "stream": True})
        assert streamed.status_code == 200  # the first chunk went out before the crash
        events = [line[6:] for line in streamed.text.splitlines() if line.startswith("data: ")]
        chunks = [json.loads(event) for event in events if event != "[DONE]"]
        said = "".join(
            chunk["choices"][0]["delta"].get("content") or ""
            for chunk in chunks
            if chunk.get("choices")
        )
        assert said == "h"
        (error,) = [chunk["error"] for chunk in chunks if "error" in chunk]
        assert error["code"] == "model_crashed" and "echo-chat" in error["message"]
        after = status(client, "echo-chat")
        assert after["state"] == "error" and after["crashes"] == 1
        # Not streamed, the next request loads it again and answers.
        answer = client.post(
            "/v1/chat/completions",
            json={**body, "messages": [{"role": "user", "content": "abc"}]},
        )
        assert answer.json()["choices"][0]["message"]["content"] == "cba"


def test_a_crash_in_a_batch_request_is_its_slots_503_and_drops_the_model(echo, make_runtime, serve):
    runtime = make_runtime(ALTLAS_LOAD_PLUGINS="fixture-echo", RESPONSE_CACHE="none")
    body = {"requests": [{"model_id": MODEL, "inputs": t} for t in ("crash", "abc")]}
    with serve(runtime) as client:
        crashed, other = client.post("/api/inference/batch", json=body).json()["results"]
        assert (crashed["error"]["type"], crashed["error"]["code"]) == (
            "unavailable_error",
            "model_crashed",
        )
        assert status(client)["crashes"] == 1
        # The other slot either ran before the crash or loaded the model again.
        assert other.get("outputs") == {"text": "cba"} or other["error"]["code"] == (
            "model_crashed"
        )
        assert infer(client, "abc").json()["outputs"] == {"text": "cba"}


def test_a_crash_fails_a_whole_batch_call_not_one_input(echo):
    from altlas_sdk import CancellationToken
    from altlas_sdk.errors import ModelCrashed

    model = echo.EchoModel(MODEL, "weights")
    inputs = [echo.ReverseInput(text=text) for text in ("abc", "crash", "xyz")]
    with pytest.raises(ModelCrashed):
        model.infer_batch(echo.TASK, inputs, echo.ReverseParameters(), CancellationToken())
    # Per-input errors still fill only their slots.
    ok, bad = model.__class__(MODEL, "w").infer_batch(
        echo.TASK,
        [echo.ReverseInput(text="abc"), echo.ReverseInput(text="")],
        echo.ReverseParameters(),
        CancellationToken(),
    )
    assert ok.text == "cba" and bad.code == "invalid_input"


def test_a_model_that_died_idle_is_still_evicted_and_unloaded(
    echo, make_runtime, serve, tmp_path: Path
):
    config = tmp_path / "altlas.toml"
    config.write_text("".join(f"[models.{m}]\nmemory_mb = 60\n" for m in (MODEL, "echo-2")))
    runtime = make_runtime(
        config,
        ALTLAS_LOAD_PLUGINS="fixture-echo",
        RAM_MEMORY_LIMIT="100",  # one of the two at a time
        MIN_RESIDENCY="0",
    )
    with serve(runtime) as client:
        assert client.post(f"/api/models/{MODEL}/load").status_code == 200
        runtime.models.loaded_model(MODEL).dead = True  # its process died while idle
        # Evicting the dead model still makes the room: the other load is not failed.
        assert client.post("/api/models/echo-2/load").status_code == 200
        evicted = status(client)
        assert evicted["state"] == "available" and evicted["crashes"] == 1
        assert "signal 9" in evicted["last_exit"]

        runtime.models.loaded_model("echo-2").dead = True
        unloaded = client.post("/api/models/echo-2/unload")
        assert unloaded.status_code == 200 and unloaded.json()["state"] == "available"
        assert unloaded.json()["crashes"] == 1


def test_repeated_crashes_refuse_loads_for_a_while(echo, make_runtime, serve):
    runtime = make_runtime(ALTLAS_LOAD_PLUGINS="fixture-echo", RESPONSE_CACHE="none")
    with serve(runtime) as client:
        for _ in range(CRASH_BURST):
            assert_crashed(infer(client, "crash"))
        loads = echo.LOADS[MODEL]
        assert "loads refused" in status(client)["detail"]

        refused = infer(client, "abc")
        assert refused.status_code == 503
        error = refused.json()["error"]
        assert error["code"] == "model_crashed"
        assert "refused" in error["message"] and f"{CRASH_BURST} times" in error["message"]
        retry_after = int(refused.headers["Retry-After"])
        assert 1 <= retry_after <= FIRST_BACKOFF_S
        assert echo.LOADS[MODEL] == loads  # refused without loading

        # Once the back-off is over, the model loads again.
        time.sleep(retry_after)
        deadline = time.monotonic() + 60
        while (response := infer(client, "abc")).status_code != 200:
            assert response.json()["error"]["code"] == "model_crashed"
            assert time.monotonic() < deadline, "the back-off never ended"
            time.sleep(0.2)
        assert echo.LOADS[MODEL] == loads + 1


def test_the_back_off_doubles_within_the_window_and_starts_over_after_it():
    record = CrashRecord()
    assert [record.record("exit", now=t) for t in range(CRASH_BURST)] == [0.0, 0.0, 5.0]
    assert record.record("exit", now=CRASH_BURST) == FIRST_BACKOFF_S * 2
    assert record.refusal("m", now=CRASH_BURST + 1) is not None
    assert record.refusal("m", now=CRASH_BURST + FIRST_BACKOFF_S * 2 + 0.1) is None
    # A crash long after the others starts a new window: no back-off.
    later = CRASH_WINDOW_S * 3
    assert record.record("signal 11", now=later) == 0.0
    assert record.count == CRASH_BURST + 2 and record.last_exit == "signal 11"
    for t in range(40):
        record.record("exit", now=later + 1 + t * 0.01)
    assert record.backoff_until - (later + 1 + 39 * 0.01) == pytest.approx(300.0)


def test_a_crashed_pinned_model_is_down_in_readyz_until_it_reloads_by_itself(
    echo, make_runtime, serve, tmp_path: Path
):
    config = tmp_path / "altlas.toml"
    config.write_text(f"[models.{MODEL}]\npin = true\n")
    runtime = make_runtime(config, ALTLAS_LOAD_PLUGINS="fixture-echo", RESPONSE_CACHE="none")
    with serve(runtime) as client:
        deadline = time.monotonic() + 60
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "the pinned model never loaded"
            time.sleep(0.05)
        loads = echo.LOADS[MODEL]
        echo.LOAD_GATE.clear()  # the reload after the crash waits until the checks
        try:
            assert_crashed(infer(client, "crash"))
            down = client.get("/readyz")
            assert down.status_code == 503
            (check,) = [c for c in down.json()["checks"] if c["name"] == f"pinned:{MODEL}"]
            assert check["ok"] is False
            assert "down after 1 crash" in check["detail"] and "signal 9" in check["detail"]
            assert status(client)["pinned"] is True
        finally:
            echo.LOAD_GATE.set()

        # No request needed: a pinned model loads again by itself.
        deadline = time.monotonic() + 60
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "the pinned model never came back"
            time.sleep(0.05)
        assert echo.LOADS[MODEL] == loads + 1
        assert status(client)["state"] == "loaded"


def test_the_orchestrator_falls_back_on_a_crash_and_counts_it(echo, make_runtime, serve):
    runtime = make_runtime(
        ALTLAS_LOAD_PLUGINS="fixture-echo",
        RESPONSE_CACHE="none",
        BREAKER_FAILURES="2",
        BREAKER_COOLDOWN="600",
    )
    body = {
        "task_type": "reverse-text",
        "model_id": [MODEL, "echo-2"],
        "inputs": f"crash:{MODEL}",
    }
    with serve(runtime) as client:
        for _ in range(2):
            response = client.post("/api/inference/orchestrated", json=body)
            assert response.status_code == 200, response.text
            answer = response.json()
            assert answer["model_id"] == "echo-2"
            assert answer["outputs"] == {"text": f"crash:{MODEL}"[::-1]}
            first = answer["orchestration"]["attempts"][0]
            assert (first["model_id"], first["outcome"]) == (MODEL, "error")
            assert first["error"]["code"] == "model_crashed"
        # Two crashes in a row opened echo-1's breaker: it is skipped, not loaded.
        loads = echo.LOADS[MODEL]
        attempts = client.post("/api/inference/orchestrated", json=body).json()["orchestration"]
        assert attempts["attempts"][0]["outcome"] == "skipped"
        assert echo.LOADS[MODEL] == loads
        assert status(client)["crashes"] == 2
