"""altlas-whisper on the real Whisper base weights, through the real service.

``data/quick-brown-fox.opus`` is Piper's en_US-joe-medium voice (CC0) saying "The quick
brown fox jumps over the lazy dog.", encoded as Ogg/Opus at 48 kHz.
"""

from __future__ import annotations

import base64
import io
import shutil
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from altlas_sdk import CancellationToken
from altlas_sdk.audio.tasks import AudioInput, SpeechToTextParameters
from altlas_sdk.testing.service import build_runtime, serve

CLIP = Path(__file__).parent / "data" / "quick-brown-fox.opus"
EXPECTED = "the quick brown fox jumps over the lazy dog"


def _words(text: str) -> list[str]:
    return "".join(c if c.isalnum() or c.isspace() else " " for c in text.lower()).split()


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word-level Levenshtein distance over the reference's length."""
    ref, hyp = _words(reference), _words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, word in enumerate(ref, 1):
        previous, row[0] = row[0], i
        for j, other in enumerate(hyp, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (word != other))
    return row[-1] / len(ref)


def _silence_wav(seconds: float, rate: int = 16000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(b"\0\0" * int(seconds * rate))
    return buffer.getvalue()


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Iterator[TestClient]:
    models = tmp_path_factory.mktemp("models")
    runtime = build_runtime(
        {"MODEL_DIR": str(models), "CACHE_DIR": str(cache_dir), "USE_GPU": "false"}
    )
    with serve(runtime) as client:
        response = client.post("/api/models/whisper-base/load")
        assert response.status_code == 200, response.text
        yield client


def _transcribe(client: TestClient, audio: bytes, **parameters: object) -> dict:
    response = client.post(
        "/api/audio/transcribe",
        json={
            "model_id": "whisper-base",
            "inputs": {"audio": base64.b64encode(audio).decode()},
            "parameters": parameters,
        },
    )
    assert response.status_code == 200, response.text
    return response.json()["outputs"]


def test_first_load_joins_the_split_weights_into_cache_dir(
    client: TestClient, cache_dir: Path
) -> None:
    folder = cache_dir / "whisper" / "base"
    assert (folder / "model.bin").stat().st_size == 145_217_607
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == [
        "config.json",
        "model.bin",
        "tokenizer.json",
        "vocabulary.json",
    ]
    status = client.get("/api/models/whisper-base/status").json()
    assert status["state"] == "loaded" and status["device"] == "cpu"


def test_transcribes_and_detects_the_language(client: TestClient) -> None:
    output = _transcribe(client, CLIP.read_bytes())
    assert word_error_rate(EXPECTED, output["text"]) <= 0.2, output["text"]
    assert output["language"] == "en" and output["language_probability"] > 0.5
    assert 2.5 < output["duration"] < 3.5
    segment = output["segments"][0]
    assert segment["id"] == 0
    assert 0 <= segment["start"] < segment["end"] <= output["duration"] + 0.5
    assert "words" not in segment


def test_word_timestamps_and_a_given_language(client: TestClient) -> None:
    output = _transcribe(
        client,
        CLIP.read_bytes(),
        language="en",
        word_timestamps=True,
        beam_size=1,
        temperature=0.0,
        initial_prompt="A pangram.",
        vad_filter=True,
    )
    words = [word for segment in output["segments"] for word in segment["words"]]
    assert word_error_rate(EXPECTED, " ".join(w["word"] for w in words)) <= 0.2
    starts = [word["start"] for word in words]
    assert starts == sorted(starts) and all(w["end"] >= w["start"] for w in words)
    assert output["language"] == "en" and output["language_probability"] == 1.0


def test_silence_gives_an_empty_transcript(client: TestClient) -> None:
    output = _transcribe(client, _silence_wav(2.0))
    assert output["text"] == "" and output["segments"] == []
    assert output["duration"] == 2.0


def test_an_unknown_language_is_a_422_naming_the_parameter(client: TestClient) -> None:
    response = client.post(
        "/api/audio/transcribe",
        json={
            "inputs": base64.b64encode(CLIP.read_bytes()).decode(),
            "parameters": {"language": "xx"},
        },
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["param"] == "$.parameters.language" and "unknown language 'xx'" in error["message"]


def test_non_audio_is_a_415_naming_the_problem(client: TestClient) -> None:
    response = client.post(
        "/api/audio/transcribe", json={"inputs": base64.b64encode(b"%PDF-1.4 not audio").decode()}
    )
    assert response.status_code == 415
    error = response.json()["error"]
    assert error["code"] == "unsupported_audio" and "not a readable audio file" in error["message"]


def _place(source: Path, folder: Path) -> None:
    """Put the files of ``source`` in ``folder`` as an operator would: hard links (or
    copies across file systems), since a symbolic link out of MODEL_DIR is refused."""
    for item in source.iterdir():
        if item.name.startswith("."):
            continue
        try:
            (folder / item.name).hardlink_to(item.resolve())
        except OSError:
            shutil.copyfile(item, folder / item.name)


def test_a_folder_in_model_dir_is_discovered(tmp_path: Path, cache_dir: Path) -> None:
    joined = cache_dir / "whisper" / "base"
    own = tmp_path / "models" / "my-whisper"
    own.mkdir(parents=True)
    _place(joined, own)
    (tmp_path / "models" / "not-whisper").mkdir()
    runtime = build_runtime({"MODEL_DIR": str(tmp_path / "models")})
    entry = runtime.catalog.get("my-whisper").spec
    assert entry.backend == "whisper" and entry.tasks == ["speech-to-text"]
    assert "not-whisper" not in runtime.catalog


def test_the_design_documents_curl_example(tmp_path: Path, cache_dir: Path, client) -> None:
    """``-F audio=@... -F language=en -F model_id=whisper-small`` with the operator's
    CTranslate2 folder in MODEL_DIR (here Whisper base's files, under that name)."""
    joined = cache_dir / "whisper" / "base"
    folder = tmp_path / "models" / "whisper-small"
    folder.mkdir(parents=True)
    _place(joined, folder)
    runtime = build_runtime(
        {
            "MODEL_DIR": str(tmp_path / "models"),
            "CACHE_DIR": str(tmp_path / "cache"),
            "USE_GPU": "false",
        }
    )
    with serve(runtime) as local:
        response = local.post(
            "/api/audio/transcribe",
            files={"audio": ("audio.opus", CLIP.read_bytes())},
            data={"language": "en", "model_id": "whisper-small"},
        )
    assert response.status_code == 200, response.text
    assert word_error_rate(EXPECTED, response.json()["outputs"]["text"]) <= 0.2


def test_streams_one_chunk_per_segment(client: TestClient) -> None:
    model = client.app.state.runtime.models.loaded_model("whisper-base")
    chunks = list(
        model.stream(
            "speech-to-text",
            AudioInput(audio=CLIP.read_bytes()),
            SpeechToTextParameters(language="en"),
            CancellationToken(),
        )
    )
    assert chunks and all(len(chunk.segments) == 1 for chunk in chunks)
    assert word_error_rate(EXPECTED, "".join(chunk.text for chunk in chunks)) <= 0.2
