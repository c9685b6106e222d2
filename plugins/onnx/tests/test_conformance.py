"""altlas-onnx passes the SDK's conformance suite, on both kinds of model it serves: the
real all-MiniLM-L6-v2 sentence encoder and a real ONNX tensor model built in code."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from altlas_sdk import ModelSpec
from altlas_sdk.errors import InvalidInput
from altlas_sdk.tasks import EmbeddingOutput, TensorOutput
from altlas_sdk.testing import BackendConformance

HEAVY = ("onnxruntime", "numpy", "tokenizers")


class TestMiniLMEmbeddings(BackendConformance):
    plugin = "onnx"
    model_id = "all-minilm-l6-v2"
    valid_inputs: ClassVar[dict[str, Any]] = {
        "texts": ["A cat sits on the mat.", "A kitten rests on a rug.", "Bonds fell."]
    }
    valid_parameters: ClassVar[dict[str, Any]] = {"normalize": True}
    # Over the model's 256 tokens, with truncation off.
    bad_inputs: ClassVar[dict[str, Any]] = {"texts": ["word " * 400]}
    bad_parameters: ClassVar[dict[str, Any]] = {"truncate": False}
    bad_input_error = InvalidInput
    heavy_modules = HEAVY

    def check_output(self, output: EmbeddingOutput) -> None:
        vectors = np.array(output.embeddings)
        assert vectors.shape == (3, 384) and output.dimensions == 384
        cat, kitten, bonds = vectors
        assert cat @ kitten > cat @ bonds + 0.2


WEIGHTS = np.array([[1.0, -1.0], [0.5, 2.0], [-1.0, 0.0]], dtype=np.float32)
X = [[1.0, 2.0, 3.0], [0.5, -1.0, 0.0]]


def build_linear(path: Path) -> None:
    """y[N,2] = x[N,3] @ W: the smallest real ONNX model with a batch dimension."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])],
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])],
        [numpy_helper.from_array(WEIGHTS, "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


class TestTensorModel(BackendConformance):
    plugin = "onnx"
    model_id = "tiny-linear"
    valid_inputs: ClassVar[dict[str, Any]] = {
        "tensors": {"x": {"dtype": "float32", "shape": [2, 3], "data": X}}
    }
    # A tensor name the model does not take.
    bad_inputs: ClassVar[dict[str, Any]] = {
        "tensors": {"z": {"dtype": "float32", "shape": [2, 3], "data": X}}
    }
    bad_input_error = InvalidInput
    heavy_modules = HEAVY

    def model_spec(self, model_dir: Path) -> ModelSpec:
        build_linear(model_dir / "linear.onnx")
        return ModelSpec(id="tiny-linear", backend="onnx", tasks=["tensor"], source="linear.onnx")

    def check_output(self, output: TensorOutput) -> None:
        y = output.tensors["y"]
        assert (y.dtype, y.shape) == ("float32", [2, 2])
        assert np.allclose(y.data, np.array(X, dtype=np.float32) @ WEIGHTS, atol=1e-6)
