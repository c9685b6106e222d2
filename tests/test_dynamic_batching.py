"""Dynamic batching: concurrent requests for one model coalesced into one backend call.

The core's logic runs on the batch fixture backend (which records every batch it is
given and can hold its slot until released), in-process; the real MiniLM model runs
through a real server. Every assertion is on batch contents and counts, never on speed.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from altlas.inference.service import InferenceService
from altlas.runtime import Runtime
from altlas_sdk import InferenceRequest
from altlas_sdk.errors import InternalError, InvalidInput, Overloaded

MODEL = "batcher-1"


@pytest.fixture
def fixture(fixture_plugins):
    """The batch fixture plugin's module, its records reset."""
    import altlas_fixture_batch

    altlas_fixture_batch.BATCHES.clear()
    altlas_fixture_batch.HOLDING.clear()
    altlas_fixture_batch.RELEASE.clear()
    yield altlas_fixture_batch
    altlas_fixture_batch.RELEASE.set()


@pytest.fixture
def batching(fixture, make_runtime, tmp_path: Path):
    """Run ``scenario(service)`` on a started runtime with the batch fixture's model
    loaded; ``config`` is the config file's text, ``env`` more settings."""

    def run(
        scenario: Callable[[InferenceService], Awaitable[Any]], config: str = "", **env: str
    ) -> Any:
        path = tmp_path / "altlas.toml"
        path.write_text(config)
        runtime: Runtime = make_runtime(
            path, ALTLAS_LOAD_PLUGINS=env.pop("plugins", "fixture-batch"), **env
        )

        async def main() -> Any:
            await runtime.start()
            try:
                await runtime.models.load_model(MODEL)
                return await scenario(runtime.inference)
            finally:
                fixture.RELEASE.set()
                await runtime.stop()

        return asyncio.run(main())

    return run


async def ask(service: InferenceService, text: str, model: str = MODEL, **parameters: str) -> str:
    response = await service.run_inference(
        InferenceRequest(model_id=model, inputs={"text": text}, parameters=parameters)
    )
    return response.outputs.text  # type: ignore[attr-defined]


async def until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, "condition never became true"
        await asyncio.sleep(0.005)


def queued(service: InferenceService, model: str = MODEL) -> int:
    """Requests waiting for a slot of ``model`` (the ``altlas_queue_depth`` gauge)."""
    lane = service.scheduler.lanes.get(model)
    return lane.queued if lane else 0


async def hold(service: InferenceService, fixture: Any) -> asyncio.Future[str]:
    """A request that holds the model's only slot until ``fixture.RELEASE`` is set."""
    holding = asyncio.ensure_future(ask(service, "hold"))
    await until(fixture.HOLDING.is_set)
    return holding


async def behind_a_held_call(
    service: InferenceService, fixture: Any, requests: list[Awaitable[str]]
) -> list[str | BaseException]:
    """Queue ``requests`` while the model is busy, then free it: their outcomes."""
    holding = await hold(service, fixture)
    tasks = [asyncio.ensure_future(request) for request in requests]
    await until(lambda: queued(service) == len(tasks))
    fixture.RELEASE.set()
    assert await holding == "HOLD"
    return await asyncio.gather(*tasks, return_exceptions=True)


def batch_sizes(service: InferenceService, model: str = MODEL) -> tuple[float, float]:
    """(calls, inputs) counted by the ``altlas_batch_size`` histogram for ``model``."""
    assert service.metrics is not None
    registry = service.metrics.registry
    labels = {"model": model}
    calls = registry.get_sample_value("altlas_batch_size_count", labels)
    inputs = registry.get_sample_value("altlas_batch_size_sum", labels)
    return calls or 0, inputs or 0


def test_requests_that_queue_while_the_model_is_busy_run_as_one_batch(batching, fixture):
    async def scenario(service: InferenceService) -> None:
        texts = ["a", "b", "c", "d", "e"]
        results = await behind_a_held_call(service, fixture, [ask(service, t) for t in texts])
        assert results == ["A", "B", "C", "D", "E"]
        assert fixture.BATCHES == [["hold"], texts]
        assert batch_sizes(service) == (2, 6)
        # An idle model runs a lone request at once, as a batch of one.
        assert await ask(service, "f") == "F"
        assert fixture.BATCHES[-1] == ["f"]

    batching(scenario)


def test_only_equal_parameters_share_a_batch(batching, fixture):
    async def scenario(service: InferenceService) -> None:
        requests = [ask(service, "a"), ask(service, "b", suffix="!"), ask(service, "c")]
        assert await behind_a_held_call(service, fixture, requests) == ["A", "B!", "C"]
        assert sorted(fixture.BATCHES[1:]) == [["a", "c"], ["b"]]

    batching(scenario)


def test_max_batch_size_splits_what_queued(batching, fixture):
    async def scenario(service: InferenceService) -> None:
        texts = [f"t{i}" for i in range(10)]
        results = await behind_a_held_call(service, fixture, [ask(service, t) for t in texts])
        assert results == [t.upper() for t in texts]
        assert fixture.BATCHES[1:] == [texts[:4], texts[4:8], texts[8:]]

    batching(scenario, MAX_BATCH_SIZE="4")


def test_a_model_entry_overrides_the_global_batch_size(batching, fixture):
    async def scenario(service: InferenceService) -> None:
        texts = ["a", "b", "c"]
        await behind_a_held_call(service, fixture, [ask(service, t) for t in texts])
        assert fixture.BATCHES[1:] == [["a", "b"], ["c"]]

    batching(scenario, config=f"[models.{MODEL}]\nmax_batch_size = 2\n", MAX_BATCH_SIZE="8")


def test_one_bad_input_fails_only_its_own_request(batching, fixture):
    async def scenario(service: InferenceService) -> None:
        texts = ["a", "bad", "wrong-type", "b"]
        results = await behind_a_held_call(service, fixture, [ask(service, t) for t in texts])
        assert fixture.BATCHES[1] == texts
        assert results[0] == "A" and results[3] == "B"
        assert isinstance(results[1], InvalidInput) and results[1].param == "$.inputs.text"
        assert isinstance(results[2], InternalError)  # the backend's bug, for its slot only

    batching(scenario)


def test_a_backend_exception_fails_its_batch_as_an_internal_error(batching, fixture):
    async def scenario(service: InferenceService) -> None:
        texts = ["a", "explode", "b"]
        results = await behind_a_held_call(service, fixture, [ask(service, t) for t in texts])
        assert fixture.BATCHES[1] == texts
        assert all(isinstance(result, InternalError) for result in results)
        assert results[0].status == 500  # type: ignore[union-attr]
        # The model keeps serving.
        assert await ask(service, "after") == "AFTER"

    batching(scenario)


def test_max_wait_ms_holds_an_idle_models_batch_until_it_fills(batching, fixture):
    async def scenario(service: InferenceService) -> None:
        first = [asyncio.ensure_future(ask(service, t)) for t in ("a", "b")]
        await asyncio.sleep(0.3)
        # The model is idle, yet the batch waits (60 s) for a third request.
        assert fixture.BATCHES == [] and not any(task.done() for task in first)
        assert await ask(service, "c") == "C"  # fills the batch: it runs at once
        assert await asyncio.gather(*first) == ["A", "B"]
        assert fixture.BATCHES == [["a", "b", "c"]]

    batching(scenario, config=f"[models.{MODEL}]\nmax_wait_ms = 60000\nmax_batch_size = 3\n")


def test_a_batch_that_does_not_fill_runs_when_max_wait_ms_is_over(batching, fixture):
    async def scenario(service: InferenceService) -> None:
        assert await asyncio.gather(ask(service, "a"), ask(service, "b")) == ["A", "B"]
        assert fixture.BATCHES == [["a", "b"]]

    batching(scenario, BATCH_MAX_WAIT_MS="500")


def test_batching_is_off_with_max_batch_size_1(batching, fixture):
    async def scenario(service: InferenceService) -> None:
        texts = ["a", "b", "c"]
        results = await behind_a_held_call(service, fixture, [ask(service, t) for t in texts])
        assert results == ["A", "B", "C"]
        assert fixture.BATCHES[1:] == [["a"], ["b"], ["c"]]
        assert batch_sizes(service) == (0, 0)

    batching(scenario, MAX_BATCH_SIZE="1")


def test_batching_is_off_for_a_backend_without_native_batching(batching, fixture):
    async def scenario(service: InferenceService) -> None:
        import altlas_fixture_echo as echo

        echo.CALLS.clear()
        await service.manager.load_model("echo-1")
        texts = [f"text {i}" for i in range(6)]
        results = await asyncio.gather(*(ask(service, t, model="echo-1") for t in texts))
        assert results == [t[::-1] for t in texts]
        assert echo.CALLS == {"echo-1": 6}
        assert batch_sizes(service, "echo-1") == (0, 0)

    batching(scenario, plugins="fixture-batch,fixture-echo")


def test_a_caller_that_leaves_while_queued_leaves_the_batch(batching, fixture):
    async def scenario(service: InferenceService) -> None:
        holding = await hold(service, fixture)
        tasks = {t: asyncio.ensure_future(ask(service, t)) for t in ("a", "b", "c")}
        await until(lambda: queued(service) == 3)
        tasks["b"].cancel()
        await until(lambda: queued(service) == 2)
        fixture.RELEASE.set()
        assert await holding == "HOLD"
        assert [await tasks["a"], await tasks["c"]] == ["A", "C"]
        assert tasks["b"].cancelled()
        assert fixture.BATCHES == [["hold"], ["a", "c"]]

    batching(scenario)


def test_a_batch_every_caller_left_never_runs(batching, fixture):
    async def scenario(service: InferenceService) -> None:
        holding = await hold(service, fixture)
        gone = asyncio.ensure_future(ask(service, "gone"))
        await until(lambda: queued(service) == 1)
        gone.cancel()
        await until(lambda: queued(service) == 0)
        fixture.RELEASE.set()
        await holding
        assert await ask(service, "after") == "AFTER"
        assert fixture.BATCHES == [["hold"], ["after"]]

    batching(scenario)


def test_each_queued_request_counts_against_max_queue(batching, fixture):
    async def scenario(service: InferenceService) -> None:
        holding = await hold(service, fixture)
        waiting = [asyncio.ensure_future(ask(service, t)) for t in ("a", "b")]
        await until(lambda: queued(service) == 2)
        with pytest.raises(Overloaded, match="max_queue 2") as refused:
            await ask(service, "c")
        assert int(refused.value.headers["Retry-After"]) >= 1
        fixture.RELEASE.set()
        await holding
        assert await asyncio.gather(*waiting) == ["A", "B"]
        assert fixture.BATCHES == [["hold"], ["a", "b"]]

    batching(scenario, config=f"[models.{MODEL}]\nmax_queue = 2\n")


def test_requests_that_joined_during_max_wait_ms_count_against_max_queue(batching, fixture):
    async def scenario(service: InferenceService) -> None:
        # The first batch fills (three requests) and holds the only slot.
        holding = [asyncio.ensure_future(ask(service, t)) for t in ("hold", "x", "y")]
        await until(fixture.HOLDING.is_set)
        # The next fills too, then queues: the lane has room for one waiting request.
        a, b, c = (asyncio.ensure_future(ask(service, t)) for t in ("a", "b", "c"))
        await until(lambda: b.done() and c.done())
        for refused in (b, c):
            assert isinstance(refused.exception(), Overloaded)
            assert "max_queue 1" in str(refused.exception())
        fixture.RELEASE.set()
        assert await asyncio.gather(*holding) == ["HOLD", "X", "Y"]
        assert await a == "A"
        assert fixture.BATCHES == [["hold", "x", "y"], ["a"]]

    config = f"[models.{MODEL}]\nmax_wait_ms = 60000\nmax_batch_size = 3\nmax_queue = 1\n"
    batching(scenario, config=config)


def test_a_batch_that_waits_too_long_is_refused_as_a_whole(batching, fixture):
    async def scenario(service: InferenceService) -> None:
        holding = await hold(service, fixture)
        results = await asyncio.gather(ask(service, "a"), ask(service, "b"), return_exceptions=True)
        assert all(isinstance(r, Overloaded) and "QUEUE_TIMEOUT" in str(r) for r in results)
        fixture.RELEASE.set()
        await holding
        assert fixture.BATCHES == [["hold"]]  # the refused requests never ran

    batching(scenario, QUEUE_TIMEOUT="0.2")


# The real MiniLM model through a real server.

MINILM = "all-minilm-l6-v2"
#: Long enough to hold the model's only slot while the others queue behind it.
LONG = [f"Sentence number {i} is about cats, kittens and small animals." for i in range(1500)]
TEXTS = [
    "a cat sits on the mat",
    "the stock market fell today",
    "kittens are young cats",
    "a recipe for tomato soup",
    "how to change a bicycle tire",
    "the weather will be sunny",
    "deep learning on small devices",
    "a short poem about the sea",
]


def sample(metrics: str, line_start: str) -> float:
    for line in metrics.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def embed(client: httpx.Client, texts: list[str], **parameters: Any) -> httpx.Response:
    # Uncached: every request must reach the model.
    body = {"model_id": MINILM, "inputs": texts, "parameters": parameters, "cache": False}
    return client.post("/api/inference/", json=body)


def queue_behind_long_call(client: httpx.Client, bodies: list[list[str]], **parameters: Any):
    """Hold the model's slot with a long call, queue one request per body behind it,
    and return their responses."""
    responses: list[httpx.Response | None] = [None] * len(bodies)

    def post(index: int, texts: list[str]) -> None:
        responses[index] = embed(client, texts, **parameters)

    long = threading.Thread(target=lambda: embed(client, LONG))
    long.start()
    wait_for_metric(client, f'altlas_in_flight{{model="{MINILM}"}}', 1)
    threads = [threading.Thread(target=post, args=item) for item in enumerate(bodies)]
    for thread in threads:
        thread.start()
    wait_for_metric(client, f'altlas_queue_depth{{model="{MINILM}"}}', len(bodies))
    long.join()
    for thread in threads:
        thread.join()
    return responses


def wait_for_metric(client: httpx.Client, line_start: str, value: float) -> None:
    deadline = time.monotonic() + 60
    while sample(client.get("/metrics").text, line_start) != value:
        assert time.monotonic() < deadline, f"{line_start} never reached {value}"
        time.sleep(0.01)


@pytest.fixture(scope="module")
def minilm_server(run_server, tmp_path_factory: pytest.TempPathFactory):
    """A real ``altlas serve`` subprocess whose MiniLM takes one call at a time."""
    base = tmp_path_factory.mktemp("batching-server")
    (base / "models").mkdir()
    config = base / "altlas.toml"
    config.write_text(f"[models.{MINILM}]\nmax_concurrency = 1\n")
    env = {
        "MODEL_DIR": str(base / "models"),
        "CACHE_DIR": str(base / "cache"),
        "ALTLAS_CONFIG": str(config),
        "ALTLAS_LOAD_PLUGINS": "onnx",
        "USE_GPU": "false",
    }
    altlas = str(Path(sys.executable).parent / "altlas")
    with run_server(lambda port: [altlas, "serve", "--port", str(port)], env) as server:
        with httpx.Client(base_url=server.base, timeout=300) as client:
            assert embed(client, ["warm up"]).status_code == 200
            yield client


def test_minilm_requests_that_queue_together_run_as_one_batch_with_their_own_answers(
    minilm_server,
):
    client = minilm_server
    before = client.get("/metrics").text
    responses = queue_behind_long_call(client, [[text] for text in TEXTS])
    after = client.get("/metrics").text

    def grew(name: str) -> float:
        line = f'{name}{{model="{MINILM}"}}'
        return sample(after, line) - sample(before, line)

    # Two backend calls: the long one (a batch of one) and the eight that queued.
    assert grew("altlas_batch_size_count") == 2
    assert grew("altlas_batch_size_sum") == 1 + len(TEXTS)
    bodies = [response.json() for response in responses]  # type: ignore[union-attr]
    assert all(response.status_code == 200 for response in responses)  # type: ignore[union-attr]
    # One backend call: the same run time for all, each with its own wait.
    assert len({body["timing"]["inference_ms"] for body in bodies}) == 1
    assert all(body["timing"]["queue_ms"] > 0 for body in bodies)

    # Each caller got exactly the embedding it gets alone.
    for text, body in zip(TEXTS, bodies, strict=True):
        alone = embed(client, [text]).json()["outputs"]["embeddings"][0]
        np.testing.assert_allclose(body["outputs"]["embeddings"][0], alone, atol=1e-5)
        assert body["outputs"]["usage"] == embed(client, [text]).json()["outputs"]["usage"]


def test_minilm_one_bad_input_fails_only_its_own_request(minilm_server):
    client = minilm_server
    too_long = " ".join(["word"] * 400)
    bodies = [["a cat"], [too_long], ["a dog"]]
    responses = queue_behind_long_call(client, bodies, truncate=False)
    statuses = [response.status_code for response in responses]  # type: ignore[union-attr]
    assert statuses == [200, 422, 200]
    error = responses[1].json()["error"]  # type: ignore[union-attr]
    assert error["type"] == "validation_error" and error["param"] == "$.inputs.texts[0]"
    assert "truncate is false" in error["message"]
    for text, response in zip(["a cat", "a dog"], [responses[0], responses[2]], strict=True):
        alone = embed(client, [text], truncate=False).json()["outputs"]["embeddings"][0]
        np.testing.assert_allclose(
            response.json()["outputs"]["embeddings"][0],  # type: ignore[union-attr]
            alone,
            atol=1e-5,
        )
