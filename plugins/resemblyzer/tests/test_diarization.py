"""Offline diarization on real weights (Silero VAD, Resemblyzer's encoder), through the
real service.

``data/two-voices.opus`` alternates two voices: Piper's en_US-joe-medium (CC0) and a
copy of it played 1.4 times faster, which raises its pitch by about six semitones.
Turns, in seconds: A 0-1.92, B 2.42-4.27, A 4.77-7.21, B 7.71-9.73.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from altlas_sdk.audio.encode import encode_pcm16
from altlas_sdk.testing.service import build_runtime, serve

CLIP = (Path(__file__).parent / "data" / "two-voices.opus").read_bytes()
TRUTH = [("A", 0.0, 1.92), ("B", 2.42, 4.27), ("A", 4.77, 7.21), ("B", 7.71, 9.73)]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    runtime = build_runtime(
        {
            "MODEL_DIR": str(tmp_path_factory.mktemp("models")),
            "CACHE_DIR": str(tmp_path_factory.mktemp("cache")),
            "USE_GPU": "false",
        }
    )
    with serve(runtime) as client:
        yield client


def diarize(client: TestClient, audio: bytes = CLIP, **fields: str) -> dict:
    response = client.post(
        "/api/audio/speaker-diarization",
        files={"audio": ("clip.opus", audio)},
        data={"model_id": "resemblyzer-diarization", **fields},
    )
    assert response.status_code == 200, response.text
    return response.json()["outputs"]


def assert_matches_truth(segments: list[dict]) -> None:
    assert len(segments) == len(TRUTH), segments
    names: dict[str, str] = {}
    for segment, (who, start, end) in zip(segments, TRUTH, strict=True):
        # The same true speaker always gets the same label, and different ones differ.
        assert names.setdefault(who, segment["speaker"]) == segment["speaker"]
        assert abs(segment["start"] - start) < 0.3 and abs(segment["end"] - end) < 0.3
    assert len(set(names.values())) == 2


def test_two_voices_without_a_hint(client: TestClient) -> None:
    outputs = diarize(client)
    assert outputs["speakers"] == ["SPEAKER_00", "SPEAKER_01"]
    assert outputs["segments"][0]["speaker"] == "SPEAKER_00"
    assert_matches_truth(outputs["segments"])
    assert 9.5 < outputs["duration"] < 10.5


def test_two_voices_with_num_speakers(client: TestClient) -> None:
    assert_matches_truth(diarize(client, num_speakers="2")["segments"])


def test_speaker_count_hints_are_obeyed(client: TestClient) -> None:
    assert diarize(client, num_speakers="1")["speakers"] == ["SPEAKER_00"]
    assert diarize(client, max_speakers="1")["speakers"] == ["SPEAKER_00"]
    assert len(diarize(client, min_speakers="3")["speakers"]) == 3


def test_silence_has_no_speaker(client: TestClient) -> None:
    outputs = diarize(client, encode_pcm16(b"\0\0" * 16000 * 2, 16000, "wav"))
    assert outputs == {"segments": [], "speakers": [], "duration": 2.0}


def test_contradictory_hints_are_a_422(client: TestClient) -> None:
    response = client.post(
        "/api/audio/speaker-diarization",
        files={"audio": ("clip.opus", CLIP)},
        data={"min_speakers": "3", "max_speakers": "2"},
    )
    assert response.status_code == 422
    assert response.json()["error"]["param"] == "$.parameters.min_speakers"


def test_it_is_the_default_model_of_the_task(client: TestClient) -> None:
    response = client.post("/api/audio/speaker-diarization", files={"audio": ("clip.opus", CLIP)})
    assert response.status_code == 200
    assert response.json()["model_id"] == "resemblyzer-diarization"
