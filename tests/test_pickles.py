"""Pickle-based weights: recognised by their bytes, refused unless the entry trusts them,
and the operator's ``trust_pickled_weights`` reaches a file found in MODEL_DIR too.
(The backends' safe loaders are tested with real malicious files in altlas-yolo,
altlas-easyocr and altlas-pyannote.)"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import pytest

from altlas_sdk import ModelSpec
from altlas_sdk.pickles import (
    PickledWeightsRefused,
    is_pickle,
    pickled_files,
    refuse_untrusted,
    refused_by_safe_loader,
)


class Exploit:
    """Unpickling it creates the folder ``marker``: proof that a pickle ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.mkdir, (str(self.marker),))


def spec(trusted: bool) -> ModelSpec:
    return ModelSpec(id="m", backend="b", tasks=["t"], source="m.pt", trust_pickled_weights=trusted)


def test_pickles_are_recognised_by_their_bytes_not_their_names(tmp_path):
    bare = tmp_path / "weights.onnx"  # a pickle whatever its name says
    bare.write_bytes(pickle.dumps({"w": [1.0]}, protocol=4))
    archive = tmp_path / "model.bin"  # PyTorch's zip layout: a data.pkl inside
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("model/data.pkl", pickle.dumps({}))
    plain_zip = tmp_path / "labels.zip"
    with zipfile.ZipFile(plain_zip, "w") as zipped:
        zipped.writestr("labels.txt", "cat\ndog\n")
    text = tmp_path / "model.pt"
    text.write_text("not a pickle at all")
    assert is_pickle(bare) and is_pickle(archive)
    assert not is_pickle(plain_zip) and not is_pickle(text)
    assert not is_pickle(tmp_path / "absent.pt")
    assert pickled_files([tmp_path]) == sorted([archive, bare])


def test_untrusted_pickles_are_refused_before_anything_unpickles(tmp_path):
    marker = tmp_path / "pwned"
    weights = tmp_path / "folder" / "model.pt"
    weights.parent.mkdir()
    weights.write_bytes(pickle.dumps(Exploit(marker)))
    with pytest.raises(PickledWeightsRefused) as refused:
        refuse_untrusted(spec(False), [weights.parent], why="no safe loader here")
    error = refused.value
    assert (error.status, error.code) == (409, "pickled_weights_refused")
    assert "'model.pt'" in error.message and "no safe loader here" in error.message
    assert "trust_pickled_weights = true in [models.m]" in error.message
    assert not marker.exists()
    refuse_untrusted(spec(True), [weights.parent], why="no safe loader here")  # allowed
    refuse_untrusted(spec(False), [tmp_path / "absent"], why="-")  # nothing to refuse


def test_only_a_refused_type_counts_as_a_refusal_not_a_corrupt_file():
    refusal = pickle.UnpicklingError(
        "Weights only load failed. ... WeightsUnpickler error: Unsupported global: "
        "GLOBAL io.open was not an allowed global by default."
    )
    corrupt = pickle.UnpicklingError(
        "Weights only load failed. ... WeightsUnpickler error: Unsupported operand 110"
    )
    try:
        raise TypeError("wrapped by the library") from refusal
    except TypeError as wrapped:
        assert refused_by_safe_loader(wrapped)
    assert not refused_by_safe_loader(corrupt)
    assert not refused_by_safe_loader(ValueError("anything else"))


def test_a_file_found_in_model_dir_can_be_trusted_from_the_config(
    fixture_plugins, make_runtime, base_env, tmp_path
):
    (Path(base_env["MODEL_DIR"]) / "dropped.echo").write_text("weights")
    config = tmp_path / "altlas.toml"
    config.write_text("[models.dropped]\ntrust_pickled_weights = true\n")
    runtime = make_runtime(config_path=config)
    entry = runtime.catalog.get("dropped")
    assert entry.provided_by == "model_dir" and entry.spec.backend == "echo"
    assert entry.spec.trust_pickled_weights is True
    assert make_runtime().catalog.get("dropped").spec.trust_pickled_weights is False


def test_a_partial_table_for_no_entry_still_fails_start_up(fixture_plugins, make_runtime, tmp_path):
    from altlas.config import ConfigError

    config = tmp_path / "altlas.toml"
    config.write_text("[models.nothing-here]\ntrust_pickled_weights = true\n")
    with pytest.raises(ConfigError, match=r"\[models.nothing-here\]"):
        make_runtime(config_path=config)
