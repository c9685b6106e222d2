"""A pyannote pipeline folder runs nothing before its entry is trusted: config.yaml may
name only pyannote's own pipelines, and pickled checkpoints are refused unless the
entry has ``trust_pickled_weights = true`` (then pyannote unpickles them)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from altlas_sdk.testing.server import serving
from altlas_sdk.testing.service import asgi_app, build_runtime

PIPELINE = """\
version: 4.0.0
pipeline:
  name: pyannote.audio.pipelines.SpeakerDiarization
  params:
    clustering: VBxClustering
    segmentation: $model/segmentation
    embedding: $model/embedding
    plda: $model/plda
"""


class Exploit:
    """Unpickling it creates the folder ``marker``: proof that a pickle ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.mkdir, (str(self.marker),))


def evil_class_pipeline(folder: Path, marker: Path) -> None:
    folder.mkdir()
    (folder / "config.yaml").write_text(
        "# looks like a SpeakerDiarization pipeline\n"
        "pipeline:\n"
        "  name: subprocess.Popen\n"
        f"  params: {{args: 'touch {marker}', shell: true}}\n"
    )


def evil_yaml_pipeline(folder: Path, marker: Path) -> None:
    folder.mkdir()
    (folder / "config.yaml").write_text(
        f"# SpeakerDiarization\npipeline: !!python/object/apply:os.system ['touch {marker}']\n"
    )


def evil_weights_pipeline(folder: Path, marker: Path) -> None:
    import torch

    (folder / "segmentation").mkdir(parents=True)
    torch.save({"state_dict": Exploit(marker)}, folder / "segmentation" / "pytorch_model.bin")
    (folder / "config.yaml").write_text(PIPELINE)


@contextmanager
def server(tmp_path: Path, config: str = "") -> Iterator[httpx.Client]:
    config_file = tmp_path / "altlas.toml"
    config_file.write_text(config)
    runtime = build_runtime(
        {
            "MODEL_DIR": str(tmp_path / "models"),
            "CACHE_DIR": str(tmp_path / "cache"),
            "USE_GPU": "false",
            "ALTLAS_LOAD_PLUGINS": "pyannote",
        },
        config_path=config_file,
    )
    with serving(asgi_app(runtime)) as url, httpx.Client(base_url=url, timeout=120) as client:
        yield client


@pytest.mark.parametrize(
    ("build", "says"),
    [
        (evil_class_pipeline, "'subprocess.Popen', which is not one of"),
        (evil_yaml_pipeline, "cannot read the pipeline's config.yaml"),
    ],
    ids=["class", "yaml-tag"],
)
def test_a_config_that_names_code_is_refused(tmp_path, build, says) -> None:
    marker = tmp_path / "pwned"
    (tmp_path / "models").mkdir()
    build(tmp_path / "models" / "evil", marker)
    with server(tmp_path) as client:
        answer = client.post("/api/models/evil/load")
        status = client.get("/api/models/evil/status").json()
    assert answer.status_code == 409, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_model_file" and says in error["message"]
    assert not marker.exists()
    assert status["state"] == "available" and "last load failed" in status["detail"]


def test_pickled_checkpoints_load_only_when_trusted(tmp_path) -> None:
    marker = tmp_path / "pwned"
    (tmp_path / "models").mkdir()
    evil_weights_pipeline(tmp_path / "models" / "evil", marker)
    with server(tmp_path) as client:
        answer = client.post("/api/models/evil/load")
        status = client.get("/api/models/evil/status").json()
    assert answer.status_code == 409, answer.text
    error = answer.json()["error"]
    assert error["code"] == "pickled_weights_refused"
    assert "'segmentation/pytorch_model.bin'" in error["message"]
    assert "trust_pickled_weights = true" in error["message"]
    assert "trust_pickled_weights" in status["detail"]
    assert not marker.exists()

    # The operator's flag is the gate: trusted, pyannote unpickles the file.
    with server(tmp_path, "[models.evil]\ntrust_pickled_weights = true\n") as client:
        trusted = client.post("/api/models/evil/load")
    assert marker.exists()
    assert trusted.status_code == 409 and trusted.json()["error"]["code"] == "invalid_model_file"
