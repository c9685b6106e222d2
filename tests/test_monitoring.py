"""Monitoring with real numbers: /metrics, /api/system/resources (and the in-process
resource monitor), /readyz through start-up, pinned preloads and shutdown."""

from __future__ import annotations

import time

import pytest

from altlas.readiness import readiness

MODEL = "all-minilm-l6-v2"


def samples(text: str, name: str) -> dict[str, float]:
    """Every sample of ``name`` in the exposition ``text``, parsed by the Prometheus
    client's parser: its labels (sorted by name, as ``{a="1",b="2"}``) -> value."""
    from prometheus_client.parser import text_string_to_metric_families

    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                pairs = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
                found["{" + pairs + "}" if pairs else ""] = sample.value
    return found


def test_metrics_count_requests_latency_models_and_cache(fixture_plugins, make_runtime, serve):
    runtime = make_runtime(ALTLAS_LOAD_PLUGINS="onnx,fixture-echo", RESPONSE_CACHE="fixture-dict")
    with serve(runtime) as client:
        body = {"model_id": MODEL, "inputs": ["a cat", "a kitten"]}
        assert client.post("/api/inference/", json=body).json()["from_cache"] is False
        assert client.post("/api/inference/", json=body).json()["from_cache"] is True
        assert (
            client.post("/api/inference/", json={"model_id": "nope", "inputs": "x"}).status_code
            == 404
        )
        client.get(f"/api/models/{MODEL}")
        text = client.get("/metrics")
        assert text.headers["content-type"].startswith("text/plain; version=0.0.4")
        metrics = text.text

    requests = samples(metrics, "altlas_requests_total")
    assert requests[f'{{method="POST",model="{MODEL}",route="/api/inference/",status="200"}}'] == 2
    assert requests['{method="POST",model="",route="/api/inference/",status="404"}'] == 1
    assert requests['{method="GET",model="",route="/api/models/{model_id}",status="200"}'] == 1
    # Histograms: one backend call (the second answer came from the cache).
    assert samples(metrics, "altlas_inference_duration_seconds_count") == {
        f'{{model="{MODEL}"}}': 1
    }
    assert samples(metrics, "altlas_inference_duration_seconds_sum")[f'{{model="{MODEL}"}}'] > 0
    assert samples(metrics, "altlas_queue_wait_seconds_count")[f'{{model="{MODEL}"}}'] == 1
    buckets = samples(metrics, "altlas_request_duration_seconds_bucket")
    assert buckets['{le="+Inf",route="/api/inference/"}'] == 3
    assert samples(metrics, "altlas_response_cache_total") == {
        '{result="hit"}': 1,
        '{result="miss"}': 1,
    }
    # A valid exposition: each family described once, each sample line unique.
    families = [line.split()[2] for line in metrics.splitlines() if line.startswith("# TYPE ")]
    assert len(families) == len(set(families)), sorted(families)
    values = [line.rsplit(" ", 1)[0] for line in metrics.splitlines() if not line.startswith("#")]
    assert len(values) == len(set(values))


def test_batch_requests_count_cache_hits_too(fixture_plugins, make_runtime, serve):
    runtime = make_runtime(ALTLAS_LOAD_PLUGINS="onnx,fixture-echo", RESPONSE_CACHE="fixture-dict")
    with serve(runtime) as client:
        item = {"model_id": MODEL, "inputs": ["a cat"]}
        client.post("/api/inference/", json=item)
        batch = client.post("/api/inference/batch", json={"requests": [item, item]}).json()
        assert [result["from_cache"] for result in batch["results"]] == [True, True]
        metrics = client.get("/metrics").text
    assert samples(metrics, "altlas_response_cache_total") == {
        '{result="hit"}': 2,
        '{result="miss"}': 1,
    }
    assert samples(metrics, "altlas_model_loaded") == {f'{{model="{MODEL}"}}': 1}
    assert samples(metrics, "altlas_model_memory_bytes")[f'{{kind="ram",model="{MODEL}"}}'] > 1e6
    assert samples(metrics, "altlas_queue_depth") == {f'{{model="{MODEL}"}}': 0}
    assert samples(metrics, "altlas_model_events_total") == {
        f'{{event="loaded",model="{MODEL}"}}': 1
    }


def test_resources_report_cpu_ram_gpus_and_models(make_runtime, serve):
    import psutil

    runtime = make_runtime(ALTLAS_LOAD_PLUGINS="onnx")
    with serve(runtime) as client:
        client.post(f"/api/models/{MODEL}/load")
        usage = client.get("/api/system/resources").json()
    assert usage["cpu"]["count"] == psutil.cpu_count()
    assert 0 <= usage["cpu"]["percent"] <= 100
    ram = usage["ram"]
    assert ram["total_bytes"] == psutil.virtual_memory().total
    assert ram["budget_bytes"] == int(ram["total_bytes"] * 0.75)  # RAM_MEMORY_LIMIT unset
    assert ram["process_rss_bytes"] > ram["models_bytes"] > 1e6
    (model,) = usage["models"]
    assert model["model_id"] == MODEL and model["state"] == "loaded"
    assert model["device"] == "cpu" and model["ram_bytes"] > 1e6
    if usage["gpus"]:
        assert usage["gpu_note"] is None
        assert all(gpu["memory_total_bytes"] > 0 for gpu in usage["gpus"])
    else:
        assert usage["gpu_note"].startswith("no GPU")


def test_in_process_resource_monitor(make_runtime):
    from altlas import get_resource_monitor
    from altlas.runtime import set_runtime

    set_runtime(make_runtime(ALTLAS_LOAD_PLUGINS="onnx", RAM_MEMORY_LIMIT="512"))
    try:
        usage = get_resource_monitor().get_current_usage()
    finally:
        set_runtime(None)
    assert usage.ram.budget_bytes == 512 * 2**20
    assert usage.models == []


def test_readiness_follows_start_pinned_preload_and_shutdown(make_runtime, serve, tmp_path):
    config = tmp_path / "altlas.toml"
    config.write_text(f"[models.{MODEL}]\npin = true\n")
    runtime = make_runtime(config_path=config, ALTLAS_LOAD_PLUGINS="onnx")
    before = readiness(runtime)
    assert not before.ready
    assert {c.name: c.detail for c in before.checks}["lifecycle"] == "starting"

    with serve(runtime) as client:
        deadline = time.monotonic() + 30
        while (response := client.get("/readyz")).status_code != 200:
            assert response.status_code == 503
            assert time.monotonic() < deadline, response.text
            time.sleep(0.05)
        checks = {c["name"]: c for c in response.json()["checks"]}
        assert checks[f"pinned:{MODEL}"]["ok"] is True
        status = client.get(f"/api/models/{MODEL}/status").json()
        assert status["state"] == "loaded" and status["pinned"] is True

    after = readiness(runtime)
    assert not after.ready
    assert {c.name: c.detail for c in after.checks}["lifecycle"] == "shutting down"
    assert not runtime.models.is_loaded(MODEL)


def test_a_pinned_model_that_cannot_load_keeps_the_service_unready(make_runtime, serve, tmp_path):
    config = tmp_path / "altlas.toml"
    config.write_text(
        '[models.mine]\nbackend = "onnx"\ntasks = ["tensor"]\nsource = "absent.onnx"\npin = true\n'
    )
    with serve(make_runtime(config_path=config, ALTLAS_LOAD_PLUGINS="onnx")) as client:
        # Unready throughout; wait (not for a fixed time) until the failed load says why.
        deadline = time.monotonic() + 60
        while True:
            response = client.get("/readyz")
            assert response.status_code == 503
            check = {c["name"]: c for c in response.json()["checks"]}["pinned:mine"]
            assert check["ok"] is False
            if "absent.onnx" in check["detail"]:
                break
            assert time.monotonic() < deadline, check["detail"]
            time.sleep(0.05)
        # Liveness is another matter: the process serves.
        assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize("path", ["/metrics", "/readyz", "/api/system/resources"])
def test_monitoring_routes_reject_other_methods(make_runtime, serve, path):
    with serve(make_runtime(ALTLAS_LOAD_PLUGINS="onnx")) as client:
        response = client.post(path)
        assert response.status_code == 405
        assert response.json()["error"]["type"] == "invalid_request_error"
