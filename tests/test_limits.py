"""Per-request caps on work, through a real ``altlas serve`` and real models: tokens to
generate (``MAX_TOKENS`` and the model's context), texts per embedding call
(``MAX_EMBEDDING_INPUTS``), characters to speak (``MAX_TTS_CHARACTERS``) and seconds of
audio (``MAX_AUDIO_SECONDS``). Each refusal is a 4xx in the one error body naming the
setting and its value; a request at the cap runs."""

from __future__ import annotations

import io
import math
import struct
import sys
import wave
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

CAPS = {
    "MAX_TOKENS": "20000",
    "MAX_EMBEDDING_INPUTS": "4",
    "MAX_TTS_CHARACTERS": "20",
    "MAX_AUDIO_SECONDS": "2",
}


def _serve(port: int) -> list[str]:
    return [str(Path(sys.executable).parent / "altlas"), "serve", "--port", str(port)]


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory,
    run_server: Callable[..., AbstractContextManager[Any]],
) -> Iterator[Any]:
    root = tmp_path_factory.mktemp("limits")
    (root / "models").mkdir()
    env = {
        **CAPS,
        "MODEL_DIR": str(root / "models"),
        "CACHE_DIR": str(root / "cache"),
        "RESPONSE_CACHE": "none",
        "USE_GPU": "false",
    }
    with run_server(_serve, env) as running:
        yield running


@pytest.fixture(scope="module")
def http(server: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base, timeout=120) as client:
        yield client


@pytest.fixture(scope="module")
def client(server: Any) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{server.base}/v1", api_key="unused", max_retries=0) as c:
        yield c


def _limit_error(response: httpx.Response, status: int, param: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == "limit_exceeded"
    assert error["param"] == param
    return error


# --- texts per embedding call ---------------------------------------------------------


def test_more_texts_than_max_embedding_inputs_is_a_400_for_openai(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model="all-minilm-l6-v2", input=["a cat"] * 5)
    assert "the limit is 4 (MAX_EMBEDDING_INPUTS)" in caught.value.message
    served = client.embeddings.create(model="all-minilm-l6-v2", input=["a cat"] * 4)
    assert len(served.data) == 4


def test_more_texts_than_max_embedding_inputs_is_a_422_on_the_task_route(
    http: httpx.Client,
) -> None:
    response = http.post(
        "/api/tasks/embedding",
        json={"model_id": "all-minilm-l6-v2", "inputs": {"texts": ["x"] * 5}},
    )
    error = _limit_error(response, 422, "$.inputs.texts")
    assert "texts asks for 5 texts; the limit is 4 (MAX_EMBEDDING_INPUTS)" in error["message"]


def test_the_cap_holds_inside_a_batch_call(http: httpx.Client) -> None:
    request = {"model_id": "all-minilm-l6-v2", "task": "embedding"}
    response = http.post(
        "/api/inference/batch",
        json={
            "requests": [
                {**request, "inputs": {"texts": ["x"] * 5}},
                {**request, "inputs": {"texts": ["x"] * 2}},
            ]
        },
    )
    assert response.status_code == 200, response.text
    over, ok = response.json()["results"]
    assert over["error"]["code"] == "limit_exceeded"
    assert len(ok["outputs"]["embeddings"]) == 2


# --- tokens to generate ---------------------------------------------------------------


def test_an_absurd_max_tokens_is_refused_before_any_model_runs(
    client: openai.OpenAI, http: httpx.Client
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="smollm2-135m-instruct",
            messages=[{"role": "user", "content": "hi"}],
            max_tokens=10**30,
        )
    assert "the limit is 20000 (MAX_TOKENS)" in caught.value.message
    response = http.post(
        "/api/tasks/chat",
        json={
            "model_id": "smollm2-135m-instruct",
            "inputs": {"messages": [{"role": "user", "content": "hi"}]},
            "parameters": {"max_tokens": 10**30},
        },
    )
    _limit_error(response, 422, "$.parameters.max_tokens")
    # Refused up front: the model never loaded for it.
    status = http.get("/api/models/smollm2-135m-instruct/status").json()
    assert status["state"] == "available"


def test_max_tokens_past_the_context_is_a_400_as_openai_answers(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="smollm2-135m-instruct",
            messages=[{"role": "user", "content": "Say hello."}],
            max_tokens=3000,
        )
    assert caught.value.code == "context_length_exceeded"
    assert "maximum context length is 2048 tokens" in caught.value.message
    served = client.chat.completions.create(
        model="smollm2-135m-instruct",
        messages=[{"role": "user", "content": "Say hello."}],
        max_tokens=5,
        temperature=0,
    )
    assert served.usage is not None and 0 < served.usage.completion_tokens <= 5


# --- characters to speak --------------------------------------------------------------


def test_speech_longer_than_max_tts_characters_is_refused(
    client: openai.OpenAI, http: httpx.Client
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.speech.create(
            model="piper-en-us-joe-medium", voice="joe", input="x" * 21, response_format="wav"
        )
    assert "the limit is 20 (MAX_TTS_CHARACTERS)" in caught.value.message
    response = http.post(
        "/api/tasks/text-to-speech",
        json={"model_id": "piper-en-us-joe-medium", "inputs": {"text": "y" * 21}},
    )
    _limit_error(response, 422, "$.inputs.text")
    spoken = http.post(
        "/api/tasks/text-to-speech",
        json={"model_id": "piper-en-us-joe-medium", "inputs": {"text": "Hello there, world."}},
    )
    assert spoken.status_code == 200, spoken.text


# --- seconds of audio -----------------------------------------------------------------


def _tone(seconds: float, rate: int = 16000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        frames = (
            struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * n / rate)))
            for n in range(int(seconds * rate))
        )
        out.writeframes(b"".join(frames))
    return buffer.getvalue()


def test_audio_longer_than_max_audio_seconds_is_a_413(http: httpx.Client) -> None:
    long = http.post(
        "/api/tasks/audio-classification",
        files={"audio": ("tone.wav", _tone(3.0), "audio/wav")},
        data={"model_id": "yamnet"},
    )
    assert long.status_code == 413, long.text
    error = long.json()["error"]
    assert error["code"] == "audio_too_long"
    assert "the limit is 2 s (MAX_AUDIO_SECONDS" in error["message"]
    short = http.post(
        "/api/tasks/audio-classification",
        files={"audio": ("tone.wav", _tone(1.0), "audio/wav")},
        data={"model_id": "yamnet"},
    )
    assert short.status_code == 200, short.text
