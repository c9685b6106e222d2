"""EasyOCR's weights are unpickled with ``weights_only=True``: a crafted ``.pth`` never
runs, through EasyOCR's own loading functions or through a server; only an entry with
``trust_pickled_weights = true`` gets EasyOCR's unrestricted ``torch.load``."""

from __future__ import annotations

import importlib.util
import os
import pickle
import shutil
from pathlib import Path

import pytest

from altlas_easyocr.safe_load import restrict_easyocr_loads, trusting
from altlas_sdk.pickles import refused_by_safe_loader

WEIGHTS = Path(importlib.util.find_spec("easyocr_en_models").submodule_search_locations[0])
WEIGHTS = WEIGHTS / "models"


class Exploit:
    """Unpickling it creates the folder ``marker``: proof that a pickle ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.mkdir, (str(self.marker),))


def plant(path: Path, marker: Path) -> Path:
    """A ``.pth`` saved by torch, as EasyOCR's are, whose pickle runs code."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"module.weight": Exploit(marker)}, path)
    return path


@pytest.mark.parametrize("loader", ["detection", "recognition"])
def test_easyocr_loaders_unpickle_only_tensors_unless_trusted(tmp_path, loader) -> None:
    import easyocr.detection
    import easyocr.recognition

    marker = tmp_path / "pwned"
    evil = plant(tmp_path / "craft_mlt_25k.pth", marker)
    restrict_easyocr_loads()
    restrict_easyocr_loads()  # idempotent: one stand-in, not one wrapping another

    def load() -> object:
        if loader == "detection":
            return easyocr.detection.get_detector(str(evil), device="cpu")
        return easyocr.recognition.get_recognizer(
            "generation2",
            {"input_channel": 1, "output_channel": 256, "hidden_size": 256},
            "0123456789",
            {},
            {},
            str(evil),
            device="cpu",
        )

    with pytest.raises(pickle.UnpicklingError) as refused:
        load()
    assert refused_by_safe_loader(refused.value)
    assert not marker.exists()
    # The operator's flag is the gate: trusted, EasyOCR's own torch.load runs the pickle.
    with trusting(True), pytest.raises(RuntimeError, match="state_dict"):
        load()  # unpickled, then refused by torch as no model's weights
    assert marker.exists()


def test_a_crafted_weight_in_model_dir_never_runs(altlas_server, base_env, tmp_path) -> None:
    marker = tmp_path / "pwned"
    folder = Path(base_env["MODEL_DIR"]) / "evil-ocr"
    plant(folder / "craft_mlt_25k.pth", marker)
    shutil.copy(WEIGHTS / "english_g2.pth", folder / "english_g2.pth")
    config = tmp_path / "altlas.toml"
    config.write_text(
        '[models.evil-ocr]\nbackend = "easyocr"\ntasks = ["ocr"]\nsource = "evil-ocr"\n'
    )
    env = {"ALTLAS_LOAD_PLUGINS": "easyocr", "USE_GPU": "false", "ALTLAS_CONFIG": str(config)}
    with altlas_server(env) as client:
        answer = client.post("/api/models/evil-ocr/load")
        status = client.get("/api/models/evil-ocr/status").json()
    # EasyOCR checks its known files' MD5 sums before loading them: a replaced detector
    # is stopped there, ahead of the restricted loader tested above.
    assert answer.status_code == 409, answer.text
    error = answer.json()["error"]
    assert error["code"] == "weights_missing" and "MD5 mismatch" in error["message"]
    assert "MODEL_DIR/evil-ocr/craft_mlt_25k.pth" in error["message"]
    assert base_env["MODEL_DIR"] not in answer.text
    assert status["state"] == "available"
    assert not marker.exists()
