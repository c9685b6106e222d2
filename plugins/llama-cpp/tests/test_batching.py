"""Continuous batching and the prompt cache on the real SmolLM2-135M-Instruct, through a
real uvicorn server and the official ``openai`` client."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

MODEL = "smollm2-135m-instruct"
# Prompts SmolLM2 answers at length when greedy, so four streams are still generating
# when the last one starts.
PROMPTS = [
    "Write a long story about a dragon who learns to cook.",
    "Explain in detail how a bicycle works.",
    "Describe a walk through a busy city market.",
    "Write a letter to a friend about your holidays.",
]
MAX_TOKENS = 48
DEADLINE = 60.0


@pytest.fixture(scope="module")
def server(tmp_path_factory, runtime_for, uvicorn_server):
    runtime = runtime_for(tmp_path_factory.mktemp("batching"))
    with uvicorn_server(runtime) as running:
        httpx.post(f"{running.url}/api/models/{MODEL}/load", timeout=120).raise_for_status()
        yield running


@pytest.fixture(scope="module")
def client(server):
    with openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0) as client:
        yield client


def engine(server):
    return server.runtime.models.loaded_model(MODEL).engine


def chat(client, prompt: str) -> str:
    completion = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": prompt}],
        temperature=0,
        max_tokens=MAX_TOKENS,
    )
    return completion.choices[0].message.content


def wait_idle(server) -> None:
    """Wait until no sequence holds a slot (the engine frees them between steps)."""
    deadline = time.monotonic() + DEADLINE
    while engine(server).active_sequences():
        assert time.monotonic() < deadline, "a sequence still holds its slot"
        time.sleep(0.05)


def test_four_concurrent_streams_decode_together_and_equal_their_answers_alone(server, client):
    alone = [chat(client, prompt) for prompt in PROMPTS]
    stats = engine(server).stats
    before = stats.batched_tokens
    events: list[tuple[str, int]] = []
    lock, start = threading.Lock(), threading.Barrier(len(PROMPTS))

    def stream(index: int) -> str:
        start.wait()
        parts = []
        with client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": PROMPTS[index]}],
            temperature=0,
            max_tokens=MAX_TOKENS,
            stream=True,
        ) as chunks:
            for chunk in chunks:
                if chunk.choices and chunk.choices[0].delta.content:
                    if not parts:
                        with lock:
                            events.append(("first", index))
                    parts.append(chunk.choices[0].delta.content)
        with lock:
            events.append(("done", index))
        return "".join(parts)

    with ThreadPoolExecutor(len(PROMPTS)) as pool:
        together = list(pool.map(stream, range(len(PROMPTS))))
    assert together == alone
    # They overlapped: every stream had its first text before any stream ended, and the
    # engine sampled tokens for several sequences in one decode step.
    kinds = [kind for kind, _ in events]
    assert kinds[: len(PROMPTS)] == ["first"] * len(PROMPTS), events
    assert stats.max_sequences_together == len(PROMPTS)
    assert stats.batched_tokens > before


def test_a_cancelled_stream_frees_its_sequence_then_four_more_run(server, client):
    wait_idle(server)
    stats = engine(server).stats
    cancelled = stats.sequences_cancelled
    # max_tokens far beyond what is read: only the cancellation ends this sequence.
    with client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": PROMPTS[0]}],
        temperature=0,
        max_tokens=1500,
        stream=True,
    ) as chunks:
        for count, _chunk in enumerate(chunks):
            if count == 3:
                break
    wait_idle(server)
    assert stats.sequences_cancelled == cancelled + 1
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda prompt: chat(client, prompt), PROMPTS))
    assert all(answers)
    wait_idle(server)


def counters(server) -> dict[str, float]:
    text = httpx.get(f"{server.url}/metrics", timeout=30).text
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "altlas_model_counter_total" and sample.labels["model"] == MODEL:
                found[sample.labels["counter"]] = sample.value
    return found


def test_the_second_turn_of_a_chat_hits_the_prompt_cache(server, client):
    messages = [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Name three fruits."},
    ]
    first = client.chat.completions.create(
        model=MODEL, messages=messages, temperature=0, max_tokens=24
    )
    before = counters(server)
    messages += [
        {"role": "assistant", "content": first.choices[0].message.content},
        {"role": "user", "content": "Which of them is yellow?"},
    ]
    second = client.chat.completions.create(
        model=MODEL, messages=messages, temperature=0, max_tokens=24
    )
    after = counters(server)
    assert second.choices[0].message.content
    assert after["prompt_cache_hits"] == before["prompt_cache_hits"] + 1
    # At least the whole first prompt was reused, and only the rest evaluated.
    reused = after["prompt_cache_tokens_reused"] - before["prompt_cache_tokens_reused"]
    evaluated = after["prompt_tokens_evaluated"] - before["prompt_tokens_evaluated"]
    assert reused >= first.usage.prompt_tokens
    assert reused + evaluated == second.usage.prompt_tokens
