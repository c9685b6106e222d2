"""Models API: list, info, load, unload, status; shared loads; on-demand loading."""

from __future__ import annotations

import asyncio
import time

import pytest


@pytest.fixture
def echo(fixture_plugins):
    import altlas_fixture_echo

    altlas_fixture_echo.LOADS.clear()
    altlas_fixture_echo.CALLS.clear()
    return altlas_fixture_echo


def test_list_info_load_status_unload(echo, make_runtime, serve):
    with serve(make_runtime()) as client:
        listing = client.get("/api/models/").json()["models"]
        assert client.get("/api/models").json()["models"] == listing
        ids = [m["id"] for m in listing]
        assert {
            "echo-1",
            "echo-2",
            "all-minilm-l6-v2",
            "llama2-7b-q4",
            "yolo-v8",
            "whisper-small",
        } <= set(ids)

        info = client.get("/api/models/echo-1").json()
        assert info["backend"] == "echo" and info["tasks"] == ["reverse-text"]
        assert info["provided_by"] == "fixture-echo"
        assert info["status"]["state"] == "available"

        status = client.post("/api/models/echo-1/load").json()
        assert status["state"] == "loaded" and status["device"] == "cpu"
        assert status["version"] and status["loaded_at"]
        assert status["memory_estimated"]["ram_bytes"] > 0
        assert client.get("/api/models/echo-1/status").json()["state"] == "loaded"

        assert client.post("/api/models/echo-1/unload").json()["state"] == "available"
        assert client.get("/api/models/echo-1/status").json()["version"] is None
        # Unloading a model that is not loaded is a no-op, not an error.
        assert client.post("/api/models/echo-1/unload").status_code == 200


def test_concurrent_loads_share_one_load(echo, make_runtime, tmp_path):
    config = tmp_path / "altlas.toml"
    config.write_text("[models.echo-1]\noptions = { load_delay_s = 0.3 }\n")
    runtime = make_runtime(config_path=config)

    async def scenario():
        statuses = await asyncio.gather(*(runtime.models.load_model("echo-1") for _ in range(5)))
        await runtime.stop()
        return statuses

    statuses = asyncio.run(scenario())
    assert {s.state for s in statuses} == {"loaded"}
    assert echo.LOADS == {"echo-1": 1}


def test_inference_loads_on_demand(echo, make_runtime, serve):
    with serve(make_runtime()) as client:
        response = client.post("/api/inference/", json={"model_id": "echo-2", "inputs": "abc"})
        assert response.status_code == 200
        assert client.get("/api/models/echo-2/status").json()["state"] == "loaded"
        assert echo.LOADS == {"echo-2": 1}


def test_on_demand_loading_can_be_turned_off(echo, make_runtime, serve):
    with serve(make_runtime(LOAD_ON_DEMAND="false")) as client:
        response = client.post("/api/inference/", json={"model_id": "echo-1", "inputs": "abc"})
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "model_not_loaded"
        assert "POST /api/models/echo-1/load" in response.json()["error"]["message"]
        client.post("/api/models/echo-1/load")
        assert (
            client.post("/api/inference/", json={"model_id": "echo-1", "inputs": "abc"}).status_code
            == 200
        )


def test_failed_load_shows_error_state_and_recovers(echo, make_runtime, serve, tmp_path):
    config = tmp_path / "altlas.toml"
    config.write_text("[models.echo-1]\noptions = { fail_load = true }\n")
    with serve(make_runtime(config_path=config)) as client:
        response = client.post("/api/models/echo-1/load")
        assert response.status_code == 500
        assert "failed on purpose" not in response.text
        status = client.get("/api/models/echo-1/status").json()
        assert status["state"] == "error"
        assert "failed on purpose" in status["detail"]
        # Another model is unaffected.
        assert client.post("/api/models/echo-2/load").json()["state"] == "loaded"


def test_task_route_uses_default_then_strategy(echo, make_runtime, serve):
    with serve(make_runtime()) as client:
        response = client.post("/api/tasks/reverse-text", json={"inputs": "abc"})
        assert response.json()["model_id"] == "echo-1"
        assert response.json()["task"] == "reverse-text"
    with serve(make_runtime(SELECTION_STRATEGY="fixture-last")) as client:
        response = client.post("/api/tasks/reverse-text", json={"inputs": "abc"})
        # echo-1 is not default_for anything under this strategy; it ranks the last first.
        assert response.json()["model_id"] == "echo-2"


def test_config_task_default_wins(echo, make_runtime, serve, tmp_path):
    config = tmp_path / "altlas.toml"
    config.write_text('[tasks]\nreverse-text = "echo-2"\n')
    with serve(make_runtime(config_path=config)) as client:
        assert (
            client.post("/api/tasks/reverse-text", json={"inputs": "x"}).json()["model_id"]
            == "echo-2"
        )


def test_task_routes_without_a_serving_model(echo, make_runtime, serve):
    # Only the fixture plugin: the core registers the media tasks, nothing serves them.
    with serve(make_runtime(ALTLAS_LOAD_PLUGINS="fixture-echo")) as client:
        response = client.post("/api/vision/ocr", json={"inputs": {}})
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "task_not_served"
        assert "no installed model serves task 'ocr'" in response.json()["error"]["message"]
        response = client.post("/api/tasks/no-such-task", json={"inputs": {}})
        assert response.status_code == 404
        assert "unknown task 'no-such-task'" in response.json()["error"]["message"]
        response = client.post(
            "/api/inference/", json={"model_id": "echo-1", "task": "embedding", "inputs": "x"}
        )
        assert response.status_code == 422 and response.json()["error"]["param"] == "$.task"


def test_unknown_strategy_or_cache_fails_start(echo, make_runtime):
    from altlas.config import ConfigError

    with pytest.raises(ConfigError, match="SELECTION_STRATEGY"):
        make_runtime(SELECTION_STRATEGY="psychic")
    with pytest.raises(ConfigError, match="RESPONSE_CACHE"):
        make_runtime(RESPONSE_CACHE="nowhere")


def test_response_cache_hook(echo, make_runtime, serve):
    with serve(make_runtime(RESPONSE_CACHE="fixture-dict")) as client:
        body = {"model_id": "echo-1", "inputs": "abc", "parameters": {"upper": True}}
        first = client.post("/api/inference/", json=body).json()
        second = client.post("/api/inference/", json=body).json()
        assert (first["from_cache"], second["from_cache"]) == (False, True)
        assert second["outputs"] == first["outputs"] == {"text": "CBA"}
        assert echo.CALLS == {"echo-1": 1}
        other = client.post("/api/inference/", json={**body, "parameters": {"upper": False}}).json()
        assert other["from_cache"] is False


def test_shutdown_unloads_models(echo, make_runtime, serve):
    runtime = make_runtime()
    with serve(runtime) as client:
        client.post("/api/models/echo-1/load")
        assert runtime.models.is_loaded("echo-1")
    assert not runtime.models.is_loaded("echo-1")


def test_body_task_must_match_the_route(echo, make_runtime, serve):
    with serve(make_runtime()) as client:
        response = client.post(
            "/api/tasks/reverse-text", json={"inputs": "abc", "task": "embedding"}
        )
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "task_mismatch"
        # An empty task is no task the route runs either.
        empty = client.post("/api/tasks/reverse-text", json={"inputs": "abc", "task": ""})
        assert empty.status_code == 422
        assert empty.json()["error"]["code"] == "task_mismatch"
        by_task = client.post("/api/inference/", json={"inputs": "abc", "task": "reverse-text"})
        assert by_task.json()["model_id"] == "echo-1"


def test_task_whose_models_wait_for_weights_says_so(echo, make_runtime, serve, base_env):
    # Only the example entries serve chat once the llama.cpp plugin is left out.
    disabled = base_env["ALTLAS_DISABLE_PLUGINS"] + ",llama-cpp"
    with serve(make_runtime(ALTLAS_DISABLE_PLUGINS=disabled)) as client:
        response = client.post("/api/tasks/chat", json={"inputs": "hello"})
        assert response.status_code == 404
        assert "llama2-7b-q4 (weights_missing)" in response.json()["error"]["message"]


def test_task_defaults_are_checked_at_start(echo, make_runtime, tmp_path):
    from altlas.config import ConfigError

    config = tmp_path / "altlas.toml"
    config.write_text('[tasks]\nreverse-text = "nope"\n')
    with pytest.raises(ConfigError, match="no such model"):
        make_runtime(config_path=config)
    config.write_text('[tasks]\nembedding = "echo-1"\n')
    with pytest.raises(ConfigError, match="serves reverse-text, not embedding"):
        make_runtime(config_path=config)


def test_startup_and_shutdown_hooks_run_once(echo, make_runtime, serve):
    echo.EVENTS.clear()
    runtime = make_runtime()
    with serve(runtime):
        assert echo.EVENTS == [f"startup:{len(runtime.catalog)}"]
    assert echo.EVENTS[-1] == "shutdown" and len(echo.EVENTS) == 2


def test_a_plugin_can_render_its_own_errors(echo, make_runtime, serve):
    with serve(make_runtime()) as client:
        response = client.post("/api/inference/", json={"model_id": "echo-1", "inputs": "teapot"})
        assert response.status_code == 418
        assert response.json()["error"]["message"] == "I'm a teapot"
        # Every other error still goes through the core's default renderer.
        other = client.get("/api/models/nope").json()["error"]
        assert other["code"] == "model_not_found"


def test_requests_beyond_the_concurrency_limit_wait_their_turn(echo, make_runtime, serve):
    from concurrent.futures import ThreadPoolExecutor

    echo.HELD.clear()
    echo.RELEASE.clear()
    with serve(make_runtime()) as client:
        client.post("/api/models/echo-1/load")

        def call(text: str) -> dict:
            body = {"model_id": "echo-1", "inputs": text}
            return client.post("/api/inference/", json=body).json()["timing"]

        def queued() -> float:
            for line in client.get("/metrics").text.splitlines():
                if line.startswith('altlas_queue_depth{model="echo-1"'):
                    return float(line.rsplit(" ", 1)[1])
            return 0.0

        with ThreadPoolExecutor(2) as pool:
            holding = pool.submit(call, "hold")
            assert echo.HELD.wait(60)
            waiting = pool.submit(call, "next")
            deadline = time.monotonic() + 60
            while queued() != 1:
                assert time.monotonic() < deadline, "the second request never queued"
                time.sleep(0.01)
            # Held for at least 0.2 s while the second waits: lower bounds only.
            time.sleep(0.2)
            echo.RELEASE.set()
            first, second = holding.result(), waiting.result()
    # The echo backend takes one call at a time: one request queued behind the other.
    assert first["inference_ms"] >= 200
    assert second["queue_ms"] >= 200 and second["queue_ms"] > first["queue_ms"]
    assert echo.CALLS == {"echo-1": 2}


def test_tasks_are_listed_with_their_plugin_and_models(echo, make_runtime, serve):
    with serve(make_runtime()) as client:
        tasks = {task["id"]: task for task in client.get("/api/tasks").json()["tasks"]}
    assert tasks["reverse-text"] == {
        "id": "reverse-text",
        "description": "Reverse text.",
        "registered_by": "fixture-echo",
        "models": ["echo-1", "echo-2"],
    }
    assert tasks["embedding"]["registered_by"] == "altlas.default_plugins.tasks"
    assert "all-minilm-l6-v2" in tasks["embedding"]["models"]
    # The media task ids are the core's too; their models come from plugins.
    assert tasks["ocr"]["registered_by"] == "altlas.default_plugins.tasks"
