"""Tool calling and structured output on /v1/chat/completions, and images refused, on
the real default chat model (Qwen2.5-Coder-0.5B-Instruct) through a real server,
driven by the official ``openai`` client; every call's arguments and every strict
answer are validated against their JSON Schema."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import jsonschema_rs
import openai
import pytest

MODEL = "qwen2.5-coder-0.5b-instruct"

WEATHER_PARAMETERS = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": "the city's name"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
    "required": ["city", "unit"],
    "additionalProperties": False,
}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The current weather in a city.",
            "parameters": WEATHER_PARAMETERS,
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_time",
            "description": "The current local time in a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    },
]
QUESTION = [{"role": "user", "content": "What is the weather like in Paris, in celsius?"}]


def _altlas_serve(port: int) -> list[str]:
    return [str(Path(sys.executable).parent / "altlas"), "serve", "--port", str(port)]


@pytest.fixture(scope="module")
def server(run_server, tmp_path_factory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("tools")
    (root / "models").mkdir()
    env = {
        "MODEL_DIR": str(root / "models"),
        "CACHE_DIR": str(root / "cache"),
        "ALTLAS_LOAD_PLUGINS": "llama-cpp",
        "RESPONSE_CACHE": "none",
    }
    with run_server(_altlas_serve, env) as running:
        httpx.post(f"{running.base}/api/models/{MODEL}/load", timeout=300).raise_for_status()
        yield running.base


@pytest.fixture(scope="module")
def client(server: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=f"{server}/v1", api_key="unused", max_retries=0, timeout=300
    ) as client:
        yield client


def _arguments(call: object) -> dict:
    arguments = json.loads(call.function.arguments)
    schema = next(t for t in TOOLS if t["function"]["name"] == call.function.name)
    jsonschema_rs.validator_for(schema["function"]["parameters"]).validate(arguments)
    return arguments


def test_two_step_tool_loop(client: openai.OpenAI) -> None:
    first = client.chat.completions.create(
        model=MODEL, messages=QUESTION, tools=TOOLS, tool_choice="required", temperature=0
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    call = choice.message.tool_calls[0]
    assert call.type == "function" and call.id.startswith("call_")
    assert call.function.name == "get_weather"
    arguments = _arguments(call)
    assert arguments["city"].lower() == "paris" and arguments["unit"] == "celsius"
    history = [
        *QUESTION,
        choice.message.model_dump(exclude_none=True),
        {
            "role": "tool",
            "tool_call_id": call.id,
            "content": json.dumps({"temperature": 21, "unit": "celsius", "sky": "sunny"}),
        },
    ]
    # The answer in text (tool_choice "none": a model this small calls the tool again
    # when it may), from the tool's result.
    second = client.chat.completions.create(
        model=MODEL, messages=history, tools=TOOLS, tool_choice="none", temperature=0
    )
    answer = second.choices[0]
    assert answer.finish_reason == "stop" and answer.message.tool_calls is None
    assert "21" in answer.message.content


def test_auto_lets_the_model_choose_a_call(client: openai.OpenAI) -> None:
    # tool_choice defaults to "auto" with tools: this question wants the weather tool.
    completion = client.chat.completions.create(
        model=MODEL, messages=QUESTION, tools=TOOLS, temperature=0
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert [call.function.name for call in choice.message.tool_calls] == ["get_weather"]
    _arguments(choice.message.tool_calls[0])


def test_a_named_tool_choice_calls_that_function(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "I am going to Tokyo."}],
        tools=TOOLS,
        tool_choice={"type": "function", "function": {"name": "get_time"}},
        temperature=0,
    )
    calls = completion.choices[0].message.tool_calls
    assert [call.function.name for call in calls] == ["get_time"]
    assert _arguments(calls[0])["city"]


def test_tool_choice_none_answers_in_text(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        tools=TOOLS,
        tool_choice="none",
        temperature=0,
        max_tokens=30,
    )
    choice = completion.choices[0]
    assert choice.message.tool_calls is None and "Paris" in choice.message.content


def test_streamed_tool_calls_arrive_as_deltas(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model=MODEL,
        messages=QUESTION,
        tools=TOOLS,
        tool_choice="required",
        parallel_tool_calls=False,
        temperature=0,
        stream=True,
    )
    deltas, reasons = [], []
    for chunk in stream:
        for choice in chunk.choices:
            deltas.extend(choice.delta.tool_calls or [])
            assert not choice.delta.content
            if choice.finish_reason:
                reasons.append(choice.finish_reason)
    assert reasons == ["tool_calls"]
    assert len(deltas) == 1 and deltas[0].index == 0 and deltas[0].id.startswith("call_")
    assert deltas[0].function.name == "get_weather"
    _arguments(deltas[0])


def test_strict_json_schema_answer_validates(client: openai.OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {
            "country": {"type": "string"},
            "capital": {"type": "string"},
            "population_millions": {"type": "number"},
        },
        "required": ["country", "capital", "population_millions"],
        "additionalProperties": False,
    }
    completion = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Describe France: its capital and population."}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "country", "schema": schema, "strict": True},
        },
        temperature=0,
        max_tokens=80,
    )
    answer = json.loads(completion.choices[0].message.content)
    jsonschema_rs.validator_for(schema).validate(answer)
    assert answer["capital"] == "Paris"


def test_json_schema_through_the_inference_route(server: str) -> None:
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "integer"}},
        "required": ["answer"],
    }
    response = httpx.post(
        f"{server}/api/inference/",
        json={
            "model_id": MODEL,
            "inputs": "What is 6 times 7? Answer in JSON.",
            "parameters": {"json_schema": schema, "temperature": 0, "max_tokens": 30},
        },
        timeout=300,
    )
    assert response.status_code == 200, response.text
    answer = json.loads(response.json()["outputs"]["text"])
    jsonschema_rs.validator_for(schema).validate(answer)


@pytest.mark.parametrize(
    ("arguments", "param"),
    [
        ({"tool_choice": "required"}, "$.tool_choice"),
        (
            {"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "nope"}}},
            "$.tool_choice.function.name",
        ),
        ({"tools": TOOLS, "response_format": {"type": "json_object"}}, "$.response_format"),
        ({"tools": [{"type": "function", "function": {"name": "bad name!"}}]}, None),
        ({"extra_body": {"functions": [{"name": "f"}]}}, "$.functions"),
    ],
)
def test_bad_tool_requests_are_400(client: openai.OpenAI, arguments: dict, param) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=MODEL, messages=QUESTION, max_tokens=2, **arguments)
    if param is not None:
        assert caught.value.body["param"] == param
    else:
        assert caught.value.body["param"].startswith("$.tools[0].function.name")


def test_a_tool_message_needs_its_call_id(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model=MODEL,
            messages=[*QUESTION, {"role": "tool", "content": "21"}],
            tools=TOOLS,
            max_tokens=2,
        )
    assert caught.value.body["param"] == "$.messages[1].tool_call_id"


PNG = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8"
    "z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)


@pytest.mark.parametrize(
    ("url", "code"),
    [
        (PNG, "model_does_not_accept_images"),
        ("file:photos/cat.png", "model_does_not_accept_images"),
        ("https://example.com/cat.png", "image_url_not_fetched"),
        ("file:../outside.png", None),
        ("data:image/png;base64,%%%", None),
        ("data:text/plain;base64,aGk=", None),
    ],
)
def test_images_are_refused_and_never_fetched(client: openai.OpenAI, url: str, code) -> None:
    content = [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": url}},
    ]
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": content}], max_tokens=2
        )
    body = caught.value.body
    assert body["param"].startswith("$.messages[0].content[1]")
    if code is not None:
        assert body["code"] == code


def test_the_conversation_is_written_as_the_hermes_templates_write_it() -> None:
    import msgspec

    from altlas.openai import translate
    from altlas.openai.types import ChatCompletionRequest

    body = msgspec.convert(
        {
            "model": MODEL,
            "messages": [
                *QUESTION,
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "21 C"},
                {"role": "tool", "tool_call_id": "call_2", "content": "sunny"},
            ],
            "tools": TOOLS,
        },
        ChatCompletionRequest,
    )
    inputs, parameters = translate.chat_request(body)
    roles = [message.role for message in inputs.messages]
    assert roles == ["system", "user", "assistant", "user"]
    assert "<tools>" in inputs.messages[0].content and '"get_weather"' in inputs.messages[0].content
    assert inputs.messages[2].content == (
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    )
    assert inputs.messages[3].content == (
        "<tool_response>\n21 C\n</tool_response>\n<tool_response>\nsunny\n</tool_response>"
    )
    # tool_choice defaults to auto: calls or text, several calls allowed.
    assert parameters.tool_calls.required is False and parameters.tool_calls.parallel is True


def test_the_tool_call_grammar_parses_in_llama_cpp() -> None:
    from llama_cpp import LlamaGrammar
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    from altlas_sdk.tool_calls import ToolCallFormat, parse_tool_calls, tool_call_grammar

    schema = {"type": "object", "properties": {"name": {"const": "f"}, "arguments": {}}}
    for required in (True, False):
        gbnf = tool_call_grammar(
            ToolCallFormat(call_schema=schema, required=required),
            lambda s: json_schema_to_gbnf(json.dumps(s)),
        )
        assert gbnf.startswith("root ::= tc-calls")
        # verbose=False would leak /dev/null handles (ResourceWarning) in llama_cpp.
        LlamaGrammar.from_string(gbnf, verbose=True)
    text = '<tool_call>\n{"name": "f", "arguments": {"x": 1}}\n</tool_call>\n<tool_call>\n{"na'
    assert [(c.name, c.arguments) for c in parse_tool_calls(text)] == [("f", '{"x": 1}')]
    # Bare calls, as small models write them: the complete ones.
    bare = '{"name": "f", "arguments": {"x": 1}}\n{"name": "g", "arguments": {}}\n{"name"'
    assert [c.name for c in parse_tool_calls(bare)] == ["f", "g"]
