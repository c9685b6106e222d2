"""The OpenAI-compatible API on the real SmolLM2-135M-Instruct (and MiniLM for
embeddings), through a real uvicorn server, driven by the official ``openai`` client
and by httpx."""

from __future__ import annotations

import base64
import json
import struct
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest

MODEL = "smollm2-135m-instruct"
# With this system prompt SmolLM2 answers the question in one sentence when greedy.
SYSTEM = "You are a helpful assistant. Answer in one short sentence."
QUESTION = [
    {"role": "system", "content": SYSTEM},
    {"role": "user", "content": "What is the capital of France?"},
]


@pytest.fixture(scope="module")
def server(tmp_path_factory, runtime_for, uvicorn_server):
    runtime = runtime_for(tmp_path_factory.mktemp("openai"))
    with uvicorn_server(runtime) as running:
        # Load once for the module: every test then runs on the warm model.
        httpx.post(f"{running.url}/api/models/{MODEL}/load", timeout=120).raise_for_status()
        yield running


@pytest.fixture(scope="module")
def client(server):
    with openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0) as client:
        yield client


@pytest.fixture(scope="module")
def http(server):
    with httpx.Client(base_url=server.url, timeout=120) as http:
        yield http


def test_models_are_listed_and_retrieved(client):
    ids = {model.id for model in client.models.list()}
    assert {MODEL, "all-minilm-l6-v2"} <= ids
    # The example entry whose weights are missing cannot run: it is not listed.
    assert "llama2-7b-q4" not in ids
    model = client.models.retrieve(MODEL)
    assert model.id == MODEL and model.object == "model" and model.owned_by == "llama-cpp"


def test_chat_answers_the_capital_of_france(client):
    completion = client.chat.completions.create(model=MODEL, messages=QUESTION, temperature=0)
    choice = completion.choices[0]
    assert "Paris" in choice.message.content
    assert choice.message.role == "assistant" and choice.finish_reason == "stop"
    assert completion.object == "chat.completion" and completion.model == MODEL
    assert completion.id.startswith("chatcmpl-")
    usage = completion.usage
    assert usage.prompt_tokens > 20 and usage.completion_tokens > 3
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_streamed_chat_gives_the_same_text_in_chunks(client):
    plain = client.chat.completions.create(
        model=MODEL, messages=QUESTION, temperature=0, max_tokens=30
    )
    stream = client.chat.completions.create(
        model=MODEL,
        messages=QUESTION,
        temperature=0,
        max_tokens=30,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain.choices[0].message.content
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) > 3
    finals = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert [c.choices[0].finish_reason for c in finals] == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage == plain.usage
    assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)


def test_concurrent_requests_queue_on_the_one_context(client):
    # A llama.cpp context is not thread-safe: four requests at once must each get the
    # reply they would get alone.
    def ask(stream: bool) -> str:
        if not stream:
            completion = client.chat.completions.create(
                model=MODEL, messages=QUESTION, temperature=0, max_tokens=12
            )
            return completion.choices[0].message.content
        chunks = client.chat.completions.create(
            model=MODEL, messages=QUESTION, temperature=0, max_tokens=12, stream=True
        )
        return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)

    alone = ask(False)
    with ThreadPoolExecutor(4) as pool:
        replies = list(pool.map(ask, [False, True, False, True, True, False]))
    assert replies == [alone] * 6


def test_stream_is_server_sent_events_ending_with_done(http):
    with http.stream(
        "POST",
        "/v1/chat/completions",
        json={
            "model": MODEL,
            "messages": QUESTION,
            "max_tokens": 5,
            "temperature": 0,
            "stream": True,
        },
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in events)
    assert events[-1] == "data: [DONE]"
    last = json.loads(events[-2][len("data: ") :])
    assert last["choices"][0]["finish_reason"] == "length"


def test_stop_sequence_ends_the_reply_before_it(client):
    plain = client.chat.completions.create(model=MODEL, messages=QUESTION, temperature=0)
    assert "Paris" in plain.choices[0].message.content
    stopped = client.chat.completions.create(
        model=MODEL, messages=QUESTION, temperature=0, stop=["Paris"]
    )
    text = stopped.choices[0].message.content
    assert "Paris" not in text
    assert plain.choices[0].message.content.startswith(text)
    assert stopped.choices[0].finish_reason == "stop"
    streamed = client.chat.completions.create(
        model=MODEL, messages=QUESTION, temperature=0, stop="Paris", stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == text


def test_max_tokens_reached_is_finish_reason_length(client):
    completion = client.chat.completions.create(
        model=MODEL, messages=QUESTION, temperature=0, max_tokens=3
    )
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage.completion_tokens == 3


def test_seeded_sampling_repeats(client):
    def sample() -> str:
        completion = client.chat.completions.create(
            model=MODEL, messages=QUESTION, temperature=0.9, seed=7, max_tokens=20
        )
        return completion.choices[0].message.content

    assert sample() == sample()


def test_penalties_change_a_repetitive_reply(client):
    # Without a system prompt, greedy SmolLM2 repeats itself: penalties must break that.
    messages = [{"role": "user", "content": "What is the capital of France?"}]

    def reply(**penalties) -> str:
        completion = client.chat.completions.create(
            model=MODEL, messages=messages, temperature=0, max_tokens=40, **penalties
        )
        return completion.choices[0].message.content

    plain = reply()
    assert reply(frequency_penalty=1.5) != plain
    assert reply(presence_penalty=1.5) != plain
    assert reply(extra_body={"repeat_penalty": 1.3}) != plain


def test_json_response_format_gives_json(client):
    completion = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Describe a person as JSON with name and age."}],
        temperature=0,
        max_tokens=60,
        response_format={
            "type": "json_schema",
            "json_schema": {
                "name": "person",
                "schema": {
                    "type": "object",
                    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
                    "required": ["name", "age"],
                },
            },
        },
    )
    person = json.loads(completion.choices[0].message.content)
    assert isinstance(person["name"], str) and isinstance(person["age"], int)


def test_chat_logprobs(client):
    completion = client.chat.completions.create(
        model=MODEL, messages=QUESTION, temperature=0, max_tokens=4, logprobs=True, top_logprobs=3
    )
    content = completion.choices[0].logprobs.content
    assert len(content) == 4
    assert "".join(item.token for item in content) == completion.choices[0].message.content
    for item in content:
        assert item.logprob <= 0 and len(item.top_logprobs) == 3
        # Greedy: the chosen token is the most likely one.
        assert item.top_logprobs[0].token == item.token


def test_completions_continue_the_prompt(client):
    completion = client.completions.create(
        model=MODEL, prompt="The capital of France is", temperature=0, max_tokens=5
    )
    choice = completion.choices[0]
    assert "Paris" in choice.text
    assert completion.object == "text_completion" and completion.usage.completion_tokens <= 5
    echoed = client.completions.create(
        model=MODEL, prompt="The capital of France is", temperature=0, max_tokens=5, echo=True
    )
    assert echoed.choices[0].text == "The capital of France is" + choice.text
    streamed = client.completions.create(
        model=MODEL, prompt="The capital of France is", temperature=0, max_tokens=5, stream=True
    )
    assert "".join(c.choices[0].text for c in streamed if c.choices) == choice.text


def test_completion_logprobs(client):
    completion = client.completions.create(
        model=MODEL, prompt="The capital of France is", temperature=0, max_tokens=3, logprobs=2
    )
    logprobs = completion.choices[0].logprobs
    assert "".join(logprobs.tokens) == completion.choices[0].text
    assert len(logprobs.token_logprobs) == 3 and all(lp <= 0 for lp in logprobs.token_logprobs)
    assert logprobs.text_offset[0] == 0 and all(len(top) >= 1 for top in logprobs.top_logprobs)


def _cos(a, b):
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_embeddings_from_minilm(client, http):
    # The client asks for base64 by default and decodes it.
    result = client.embeddings.create(
        model="all-minilm-l6-v2", input=["a cat", "a kitten", "bond yields rose"]
    )
    cat, kitten, bonds = (item.embedding for item in result.data)
    assert len(cat) == 384 and [item.index for item in result.data] == [0, 1, 2]
    assert _cos(cat, kitten) > _cos(cat, bonds) + 0.2
    assert result.usage.prompt_tokens > 3 and result.model == "all-minilm-l6-v2"
    floats = http.post(
        "/v1/embeddings",
        json={"model": "all-minilm-l6-v2", "input": "a cat", "encoding_format": "float"},
    ).json()
    assert floats["object"] == "list" and floats["data"][0]["object"] == "embedding"
    assert floats["data"][0]["embedding"] == pytest.approx(cat, abs=1e-6)
    raw = http.post(
        "/v1/embeddings",
        json={"model": "all-minilm-l6-v2", "input": "a cat", "encoding_format": "base64"},
    ).json()["data"][0]["embedding"]
    decoded = struct.unpack("<384f", base64.b64decode(raw))
    assert list(decoded) == pytest.approx(cat, abs=1e-6)


def test_unknown_model_is_404(client):
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="no-such-model", messages=QUESTION)
    assert caught.value.code == "model_not_found"
    assert caught.value.body["param"] == "$.model"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="no-such-model", input="x")


@pytest.mark.parametrize(
    ("arguments", "param"),
    [
        ({"temperature": 5}, "$.temperature"),
        ({"max_tokens": 0}, "$.max_tokens"),
        ({"n": 2}, "$.n"),
        ({"messages": []}, "$.messages"),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, "$.messages[0].role"),
        ({"extra_body": {"bogus": 1}}, "$.bogus"),
        ({"tool_choice": "required"}, "$.tool_choice"),
        ({"top_logprobs": 2}, "$.top_logprobs"),
        ({"extra_body": {"grammar": "root ::= ("}}, "$.grammar"),
    ],
)
def test_bad_parameters_are_400_naming_the_field(client, arguments, param):
    request = {"model": MODEL, "messages": QUESTION, "max_tokens": 2, **arguments}
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(**request)
    body = caught.value.body
    assert body["param"] == param and body["message"]
    assert body["type"] == "invalid_request_error"


def test_a_model_that_does_not_chat_is_400(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="all-minilm-l6-v2", messages=QUESTION)
    assert caught.value.body["param"] == "$.model"


def test_error_bodies_have_the_one_shape(http):
    response = http.post(
        "/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert set(response.json()["error"]) == {"type", "message", "param", "code", "request_id"}
    response = http.post("/v1/completions", content=b"{}", headers={"content-type": "text/plain"})
    assert response.status_code == 415
    assert http.get("/v1/nowhere").status_code == 404


def test_design_document_inference_request(http):
    response = http.post(
        "/api/inference/",
        json={
            "model_id": MODEL,
            "inputs": "What is the capital of France?",
            "parameters": {"max_tokens": 100, "temperature": 0.7},
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["task"] == "text-generation" and body["outputs"]["text"].strip()
    assert body["outputs"]["finish_reason"] in {"stop", "length"}
    chat = http.post(
        "/api/tasks/chat",
        json={"model_id": MODEL, "inputs": QUESTION, "parameters": {"temperature": 0}},
    ).json()
    assert chat["model_id"] == MODEL and "Paris" in chat["outputs"]["message"]["content"]


def test_client_going_away_stops_generation_and_frees_the_model(server, http):
    # Greedy, without the system prompt, SmolLM2 repeats itself to max_tokens.
    request = {
        "model": MODEL,
        "messages": QUESTION[1:],
        "max_tokens": 1500,
        "temperature": 0,
        "stream": True,
    }
    with http.stream("POST", "/v1/chat/completions", json=request) as response:
        lines = response.iter_lines()
        received = [next(lines) for _ in range(6)]
    assert all(line.startswith("data: ") or not line for line in received)
    # The next request would wait behind ~1500 tokens (many seconds) if generation went
    # on; it waits for at most the token in flight.
    after = http.post(
        "/api/inference/",
        json={
            "model_id": MODEL,
            "task": "chat",
            "inputs": QUESTION,
            "parameters": {"max_tokens": 2},
        },
    )
    assert after.status_code == 200
    assert after.json()["timing"]["queue_ms"] < 5000


def test_client_gone_before_a_plain_reply_stops_generation_too(server, http):
    request = {"model": MODEL, "messages": QUESTION[1:], "max_tokens": 1500, "temperature": 0}
    with pytest.raises(httpx.TimeoutException):
        httpx.post(f"{server.url}/v1/chat/completions", json=request, timeout=0.5)
    after = http.post(
        "/api/inference/",
        json={
            "model_id": MODEL,
            "task": "chat",
            "inputs": QUESTION,
            "parameters": {"max_tokens": 2},
        },
    )
    assert after.status_code == 200
    assert after.json()["timing"]["queue_ms"] < 5000


def test_backend_failure_mid_stream_ends_with_an_error_event(server, client, monkeypatch):
    model = server.runtime.models.loaded_model(MODEL)
    real_stream = model.stream

    def failing_stream(*args, **kwargs):
        chunks = real_stream(*args, **kwargs)
        yield next(chunks)
        yield next(chunks)
        chunks.close()
        raise RuntimeError("the backend failed mid-stream")

    monkeypatch.setattr(model, "stream", failing_stream)
    stream = client.chat.completions.create(
        model=MODEL, messages=QUESTION, max_tokens=20, temperature=0, stream=True
    )
    received = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in stream:
            received.append(chunk)
    assert len(received) >= 2  # the opening chunk and text came before the failure
    assert "internal error" in caught.value.message
    monkeypatch.undo()
    # The model still serves.
    completion = client.chat.completions.create(model=MODEL, messages=QUESTION, temperature=0)
    assert "Paris" in completion.choices[0].message.content
