"""Every /v1 response and stream chunk validates against OpenAI's own schemas.

``tests/data/openai_response_schemas.json`` holds the response schemas of OpenAI's
published OpenAPI document (``openai/openai-openapi``, ``openapi.json``; its
``_source`` names the commit and what was changed: only ``nullable`` written the JSON
Schema way). Replies come from the real SmolLM2-135M-Instruct and all-MiniLM-L6-v2
through a real server: plain and streamed chat completions (text, logprobs, usage, tool
calls), plain and streamed completions, embeddings and the model list.
"""

from __future__ import annotations

import base64
import json
import struct
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import jsonschema_rs
import pytest

SCHEMAS = Path(__file__).parent / "data" / "openai_response_schemas.json"
CHAT_MODEL = "smollm2-135m-instruct"
MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


def _validator(name: str) -> jsonschema_rs.Validator:
    document = json.loads(SCHEMAS.read_text())
    schema = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    return jsonschema_rs.validator_for(schema)


def _altlas_serve(port: int) -> list[str]:
    return [str(Path(sys.executable).parent / "altlas"), "serve", "--port", str(port)]


@pytest.fixture(scope="module")
def http(run_server, tmp_path_factory) -> Iterator[httpx.Client]:
    root = tmp_path_factory.mktemp("shapes")
    (root / "models").mkdir()
    env = {
        "MODEL_DIR": str(root / "models"),
        "CACHE_DIR": str(root / "cache"),
        "ALTLAS_LOAD_PLUGINS": "llama-cpp,onnx",
        "RESPONSE_CACHE": "none",
    }
    with run_server(_altlas_serve, env) as running:
        with httpx.Client(base_url=running.base, timeout=300) as client:
            yield client


def _events(response: httpx.Response) -> list[dict]:
    assert response.status_code == 200, response.text
    lines = [line for line in response.text.splitlines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    return [json.loads(line[len("data: ") :]) for line in lines[:-1]]


def _chat(**fields: object) -> dict:
    return {"model": CHAT_MODEL, "messages": MESSAGES, "max_tokens": 8, **fields}


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"logprobs": True, "top_logprobs": 2},
        {"tools": TOOLS, "tool_choice": "required", "max_tokens": 40},
        {"response_format": {"type": "json_object"}},
    ],
    ids=["text", "logprobs", "tool_calls", "json"],
)
def test_chat_completion_and_its_chunks_validate(http: httpx.Client, fields: dict) -> None:
    response = http.post("/v1/chat/completions", json=_chat(**fields))
    assert response.status_code == 200, response.text
    body = response.json()
    _validator("CreateChatCompletionResponse").validate(body)
    assert "system_fingerprint" not in body
    if "tools" in fields:
        assert body["choices"][0]["finish_reason"] == "tool_calls"
        assert body["choices"][0]["message"]["tool_calls"][0]["function"]["name"]
    stream = http.post(
        "/v1/chat/completions",
        json=_chat(stream=True, stream_options={"include_usage": True}, **fields),
    )
    chunks = _events(stream)
    chunk_validator = _validator("CreateChatCompletionStreamResponse")
    for chunk in chunks:
        chunk_validator.validate(chunk)
        assert "system_fingerprint" not in chunk
    assert chunks[-1]["usage"]["total_tokens"] > 0 and chunks[-1]["choices"] == []


def test_completion_and_its_chunks_validate(http: httpx.Client) -> None:
    request = {"model": CHAT_MODEL, "prompt": "The capital of France is", "max_tokens": 6}
    response = http.post("/v1/completions", json={**request, "logprobs": 2})
    assert response.status_code == 200, response.text
    validator = _validator("CreateCompletionResponse")
    validator.validate(response.json())
    assert "system_fingerprint" not in response.json()
    stream = http.post("/v1/completions", json={**request, "stream": True, "echo": True})
    chunks = _events(stream)
    # OpenAI streams completions as CreateCompletionResponse objects whose finish_reason
    # is null until the last one, which its schema (written for the plain response)
    # does not allow: every other field is checked as it stands.
    for chunk in chunks[:-1]:
        assert chunk["choices"][0]["finish_reason"] is None
        validator.validate({**chunk, "choices": [{**chunk["choices"][0], "finish_reason": "stop"}]})
    validator.validate(chunks[-1])
    # Six tokens may end at the model's own end of text: either reason is OpenAI's.
    assert chunks[-1]["choices"][0]["finish_reason"] in {"length", "stop"}


def test_embeddings_and_models_validate(http: httpx.Client) -> None:
    validator = _validator("CreateEmbeddingResponse")
    for encoding in ("float", "base64"):
        response = http.post(
            "/v1/embeddings",
            json={"model": "all-minilm-l6-v2", "input": ["a", "b"], "encoding_format": encoding},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        if encoding == "base64":
            # The schema types the embedding as floats only, though OpenAI answers
            # base64 as a string, as here: checked as the floats it encodes.
            for item in body["data"]:
                raw = base64.b64decode(item["embedding"])
                item["embedding"] = list(struct.unpack(f"<{len(raw) // 4}f", raw))
        validator.validate(body)
    models = http.get("/v1/models").json()
    _validator("ListModelsResponse").validate(models)
    assert models["data"]
    _validator("Model").validate(http.get(f"/v1/models/{CHAT_MODEL}").json())


def test_the_schemas_catch_what_they_should() -> None:
    # The kept schemas are strict enough to catch the old defect.
    validator = _validator("CreateChatCompletionStreamResponse")
    chunk = {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": "x"}, "finish_reason": None}],
    }
    validator.validate(chunk)
    assert not validator.is_valid({**chunk, "system_fingerprint": None})
