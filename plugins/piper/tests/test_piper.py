"""altlas-piper with the real en_US-joe-medium voice, through the real service."""

from __future__ import annotations

import io
import shutil
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from altlas_sdk import CancellationToken
from altlas_sdk.audio.tasks import TextToSpeechInput, TextToSpeechParameters
from altlas_sdk.testing.service import Runtime, build_runtime, serve

TEXT = "The quick brown fox jumps over the lazy dog. It was not amused."


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Runtime:
    models = tmp_path_factory.mktemp("models")
    return build_runtime(
        {
            "MODEL_DIR": str(models),
            "CACHE_DIR": str(tmp_path_factory.mktemp("cache")),
            "USE_GPU": "false",
        }
    )


@pytest.fixture(scope="module")
def client(runtime: Runtime) -> Iterator[TestClient]:
    with serve(runtime) as client:
        assert client.post("/api/models/piper-en-us-joe-medium/load").status_code == 200
        yield client


def _speak(client: TestClient, text: str = TEXT, **parameters: object) -> tuple[bytes, str]:
    response = client.post(
        "/api/audio/text-to-speech", json={"inputs": text, "parameters": parameters}
    )
    assert response.status_code == 200, response.text
    return response.content, response.headers["content-type"]


def _read_wav(data: bytes) -> tuple[int, int, bytes]:
    with wave.open(io.BytesIO(data)) as reader:
        return reader.getframerate(), reader.getnchannels(), reader.readframes(reader.getnframes())


def test_speaks_a_wav_file(client: TestClient) -> None:
    body, media_type = _speak(client)
    assert media_type == "audio/wav"
    rate, channels, pcm = _read_wav(body)
    assert (rate, channels) == (22050, 1)
    seconds = len(pcm) / 2 / rate
    assert 2.5 < seconds < 8, seconds
    # Real speech, not silence: a good share of the samples are loud.
    import numpy as np

    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768
    assert np.sqrt(np.mean(samples**2)) > 0.03


def test_raw_pcm_and_json(client: TestClient) -> None:
    wav, _ = _speak(client, "Hello there.")
    pcm, media_type = _speak(client, "Hello there.", response_format="pcm")
    assert media_type == "audio/pcm"
    assert abs(len(pcm) - len(_read_wav(wav)[2])) < 22050  # same speech, up to sampling noise
    response = client.post(
        "/api/audio/text-to-speech",
        json={"inputs": "Hello there.", "parameters": {"response_format": "json"}},
    )
    outputs = response.json()["outputs"]
    assert outputs["format"] == "wav" and outputs["sample_rate"] == 22050
    assert outputs["duration"] > 0.3 and isinstance(outputs["audio"], str)


def test_length_scale_and_sentence_silence_lengthen_the_audio(client: TestClient) -> None:
    plain = len(_read_wav(_speak(client, "One. Two. Three.")[0])[2])
    slow = len(_read_wav(_speak(client, "One. Two. Three.", length_scale=2.0)[0])[2])
    paused = len(_read_wav(_speak(client, "One. Two. Three.", sentence_silence=0.5)[0])[2])
    assert slow > 1.5 * plain
    assert paused >= plain + 2 * 3 * 0.5 * 22050 * 0.9  # 3 sentences x 0.5 s of 16-bit mono


def test_streams_one_chunk_per_sentence(runtime: Runtime, client: TestClient) -> None:
    model = runtime.models.loaded_model("piper-en-us-joe-medium")
    assert model is not None
    chunks = list(
        model.stream(
            "text-to-speech",
            TextToSpeechInput(text="First sentence. Second sentence. Third sentence."),
            TextToSpeechParameters(),
            CancellationToken(),
        )
    )
    assert len(chunks) == 3
    assert all(chunk.format == "pcm" and chunk.duration > 0.3 for chunk in chunks)


@pytest.mark.parametrize(
    ("inputs", "parameters", "param"),
    [
        ("   ", {}, "$.inputs.text"),
        ("Hello.", {"speaker_id": 3}, "$.parameters.speaker_id"),
        ("Hello.", {"speaker": "nobody"}, "$.parameters.speaker"),
        ("Hello.", {"length_scale": 0}, "$.parameters.length_scale"),
    ],
)
def test_bad_requests_are_422s_naming_the_field(
    client: TestClient, inputs: str, parameters: dict, param: str
) -> None:
    response = client.post(
        "/api/audio/text-to-speech", json={"inputs": inputs, "parameters": parameters}
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["param"] == param


def test_a_voice_folder_in_model_dir_is_discovered(runtime: Runtime, tmp_path: Path) -> None:
    entry = runtime.catalog.get("piper-en-us-joe-medium")
    files = runtime.resolver.fetch(entry.spec)
    voice = tmp_path / "models" / "my-voice"
    voice.mkdir(parents=True)
    shutil.copy(files.path, voice / "my-voice.onnx")
    shutil.copy(files.extra["config"], voice / "my-voice.onnx.json")
    other = build_runtime({"MODEL_DIR": str(tmp_path / "models")})
    spec = other.catalog.get("my-voice").spec
    assert spec.backend == "piper" and spec.tasks == ["text-to-speech"]
