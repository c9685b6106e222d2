"""altlas-pyannote through pyannote's real loading and inference code.

No pretrained pyannote pipeline can be had offline (the weights are on a gated hub
repository), so this test builds one of pyannote's own architecture with random
weights: a PyanNet segmentation model and a WeSpeaker ResNet34 embedding model saved as
pyannote checkpoints, a random PLDA, and a ``config.yaml`` laid out like pyannote's
pipelines. It loads through ``Pipeline.from_pretrained(<folder>)`` and runs on real
speech (pyannote's own ``sample.wav``). The speaker turns it finds are meaningless: the
test checks the code path and the output's shape, never the diarization's quality.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from starlette.testclient import TestClient

from altlas_pyannote.backend import _import_pyannote
from altlas_sdk.audio.decode import decode_audio
from altlas_sdk.audio.encode import encode_pcm16, float_to_pcm16
from altlas_sdk.testing.service import build_runtime, serve

pytestmark = [
    # Random weights give degenerate statistics inside pyannote's pooling and clustering.
    pytest.mark.filterwarnings(r"ignore:std\(\). degrees of freedom:UserWarning"),
    pytest.mark.filterwarnings("ignore:Mean of empty slice:RuntimeWarning"),
    pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning"),
    pytest.mark.filterwarnings(r"ignore:\s*The detected number of speakers:UserWarning"),
]

CONFIG = """\
version: 4.0.0
pipeline:
  name: pyannote.audio.pipelines.SpeakerDiarization
  params:
    clustering: VBxClustering
    segmentation: $model/segmentation
    embedding: $model/embedding
    plda: $model/plda
    embedding_batch_size: 32
    embedding_exclude_overlap: true
    segmentation_batch_size: 32
params:
  clustering:
    threshold: 0.6
    Fa: 0.07
    Fb: 0.8
  segmentation:
    min_duration_off: 0.0
"""


def _save(model: object, folder: Path) -> None:
    """A checkpoint as pyannote's ``Model.from_pretrained`` reads it."""
    import pyannote.audio
    import pytorch_lightning
    import torch

    folder.mkdir(parents=True)
    checkpoint = {
        "state_dict": model.state_dict(),
        "hyper_parameters": dict(model.hparams),
        "pytorch-lightning_version": pytorch_lightning.__version__,
        "pyannote.audio": {
            "versions": {"pyannote.audio": pyannote.audio.__version__},
            "architecture": {"module": type(model).__module__, "class": type(model).__name__},
            "specifications": model.specifications,
        },
    }
    torch.save(checkpoint, folder / "pytorch_model.bin")


def build_random_pipeline(folder: Path) -> None:
    """A speaker-diarization pipeline folder of pyannote's architecture, random weights."""
    # Through the plugin's own import: telemetry off, the FFmpeg warning filtered.
    _import_pyannote()
    import torch
    from pyannote.audio.core.task import Problem, Resolution, Specifications
    from pyannote.audio.models.embedding import WeSpeakerResNet34
    from pyannote.audio.models.segmentation import PyanNet

    torch.manual_seed(0)
    segmentation = PyanNet(sincnet={"stride": 10})
    # pyannote/segmentation-3.0's: 10 s chunks, 3 speakers, at most 2 at once (powerset).
    segmentation.specifications = Specifications(
        problem=Problem.MONO_LABEL_CLASSIFICATION,
        resolution=Resolution.FRAME,
        duration=10.0,
        min_duration=None,
        warm_up=(0.0, 0.0),
        classes=["speaker#1", "speaker#2", "speaker#3"],
        powerset_max_classes=2,
        permutation_invariant=True,
    )
    segmentation.build()
    _save(segmentation, folder / "segmentation")
    embedding = WeSpeakerResNet34()
    embedding.specifications = Specifications(
        problem=Problem.REPRESENTATION, resolution=Resolution.CHUNK, duration=10.0
    )
    _save(embedding, folder / "embedding")
    rng = np.random.default_rng(0)
    (folder / "plda").mkdir()
    np.savez(
        folder / "plda" / "xvec_transform.npz",
        mean1=rng.normal(size=256),
        mean2=rng.normal(size=128),
        lda=rng.normal(size=(256, 128)),
    )
    np.savez(
        folder / "plda" / "plda.npz",
        mu=rng.normal(size=128),
        tr=np.linalg.qr(rng.normal(size=(128, 128)))[0],
        psi=np.abs(rng.normal(size=128)) + 0.5,
    )
    (folder / "config.yaml").write_text(CONFIG)


def sample_speech(seconds: float) -> bytes:
    """The start of pyannote's own sample recording (two people talking), as FLAC."""
    spec = importlib.util.find_spec("pyannote.audio")
    assert spec is not None and spec.submodule_search_locations
    path = Path(next(iter(spec.submodule_search_locations))) / "sample" / "sample.wav"
    clip = decode_audio(path.read_bytes())
    samples = clip.samples[: int(seconds * clip.sample_rate)]
    return encode_pcm16(float_to_pcm16(samples), clip.sample_rate, "flac")


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    models = tmp_path_factory.mktemp("models")
    build_random_pipeline(models / "random-diarization")
    # pyannote unpickles its checkpoints unrestricted: only a trusted entry loads.
    config = tmp_path_factory.mktemp("config") / "altlas.toml"
    config.write_text("[models.random-diarization]\ntrust_pickled_weights = true\n")
    runtime = build_runtime(
        {
            "MODEL_DIR": str(models),
            "CACHE_DIR": str(tmp_path_factory.mktemp("cache")),
            "USE_GPU": "false",
        },
        config_path=config,
    )
    with serve(runtime) as client:
        yield client


def test_a_pipeline_folder_in_model_dir_is_listed_and_loads(client: TestClient) -> None:
    info = client.get("/api/models/random-diarization").json()
    assert info["backend"] == "pyannote" and info["tasks"] == ["speaker-diarization"]
    assert info["provided_by"] == "model_dir"  # found there; the config only trusts it
    response = client.post("/api/models/random-diarization/load")
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "loaded"
    # Loading turned pyannote's telemetry off.
    assert os.environ["PYANNOTE_METRICS_ENABLED"] == "false"


def test_diarizes_real_speech_through_the_real_pipeline(client: TestClient) -> None:
    response = client.post(
        "/api/audio/speaker-diarization",
        files={"audio": ("sample.flac", sample_speech(6.0))},
        data={"model_id": "random-diarization", "max_speakers": "2"},
    )
    assert response.status_code == 200, response.text
    outputs = response.json()["outputs"]
    assert outputs["duration"] == 6.0
    # Random weights: any turns at all, but well-formed ones.
    for turn in outputs["segments"]:
        assert 0 <= turn["start"] < turn["end"] <= 6.0
        assert turn["speaker"] in outputs["speakers"]
    assert len(outputs["speakers"]) <= 2


def test_bad_hints_and_bad_audio_are_4xx(client: TestClient) -> None:
    hints = client.post(
        "/api/audio/speaker-diarization",
        files={"audio": ("sample.flac", sample_speech(2.0))},
        data={"model_id": "random-diarization", "min_speakers": "3", "max_speakers": "2"},
    )
    assert hints.status_code == 422
    assert hints.json()["error"]["param"] == "$.parameters.min_speakers"
    garbage = client.post(
        "/api/audio/speaker-diarization",
        files={"audio": ("x.wav", b"RIFF....WAVEnot really")},
        data={"model_id": "random-diarization"},
    )
    assert garbage.status_code in {415, 422}
    assert garbage.json()["error"]["param"] == "$.inputs.audio"


def test_the_community_pipeline_waits_for_the_users_weights(client: TestClient) -> None:
    status = client.get("/api/models/pyannote-speaker-diarization-community-1/status").json()
    assert status["state"] == "weights_missing"
    assert "huggingface.co/pyannote/speaker-diarization-community-1" in status["detail"]
    assert "HF_TOKEN" in status["detail"]
    response = client.post("/api/models/pyannote-speaker-diarization-community-1/load")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "weights_missing"


def test_with_a_hub_token_the_first_load_downloads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Offline here: the hub client is told so, and the load reports the failed download.
    monkeypatch.setenv("HF_TOKEN", "hf_example")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    runtime = build_runtime(
        {"MODEL_DIR": str(tmp_path / "models"), "CACHE_DIR": str(tmp_path / "cache")}
    )
    with serve(runtime) as local:
        model = "pyannote-speaker-diarization-community-1"
        assert local.get(f"/api/models/{model}/status").json()["state"] == "available"
        response = local.post(f"/api/models/{model}/load")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "weights_missing"
    assert "could not download pyannote/speaker-diarization-community-1" in error["message"]
