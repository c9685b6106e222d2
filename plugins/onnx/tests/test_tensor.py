"""The ``tensor`` task on a real ONNX model built in code and dropped into MODEL_DIR."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest

WEIGHTS = np.array(
    [[1.0, -1.0, 0.5], [0.5, 2.0, -1.0], [-1.0, 0.0, 1.0], [0.0, 1.0, 1.0]], dtype=np.float32
)
BIAS = np.array([0.1, -0.2, 0.3], dtype=np.float32)


def _npy(array: np.ndarray) -> str:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return base64.b64encode(buffer.getvalue()).decode()


STRING_NPY = _npy(np.array([["a", "b", "c", "d"]]))


def build_classifier(path: Path) -> None:
    """A linear classifier with softmax: x[N,4] -> logits[N,3], probabilities[N,3]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "W"], ["xw"]),
            helper.make_node("Add", ["xw", "b"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        ],
        "classifier",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 3]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 3]),
        ],
        [numpy_helper.from_array(WEIGHTS, "W"), numpy_helper.from_array(BIAS, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


@pytest.fixture
def client(make_runtime, serve, base_env):
    build_classifier(Path(base_env["MODEL_DIR"]) / "tiny-classifier.onnx")
    with serve(make_runtime()) as client:
        yield client


def expected(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    logits = x @ WEIGHTS + BIAS
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return logits, exp / exp.sum(axis=1, keepdims=True)


def test_discovered_and_run_with_json_tensors(client):
    info = client.get("/api/models/tiny-classifier").json()
    assert (info["backend"], info["tasks"], info["provided_by"]) == (
        "onnx",
        ["tensor"],
        "model_dir",
    )
    x = [[1, 2, 3, 4], [0.5, -1, 0, 2]]
    response = client.post(
        "/api/inference/",
        json={
            "model_id": "tiny-classifier",
            "inputs": {"tensors": {"x": {"dtype": "float32", "shape": [2, 4], "data": x}}},
        },
    )
    assert response.status_code == 200, response.text
    outputs = response.json()["outputs"]["tensors"]
    logits, probabilities = expected(np.array(x, dtype=np.float32))
    assert outputs["logits"]["shape"] == [2, 3] and outputs["logits"]["dtype"] == "float32"
    assert np.allclose(outputs["logits"]["data"], logits, atol=1e-5)
    assert np.allclose(outputs["probabilities"]["data"], probabilities, atol=1e-5)


def test_npy_in_and_out_and_output_selection(client):
    x = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    response = client.post(
        "/api/inference/",
        json={
            "model_id": "tiny-classifier",
            "inputs": {"tensors": {"x": {"npy": _npy(x)}}},
            "parameters": {"outputs": ["probabilities"], "encoding": "npy"},
        },
    )
    tensors = response.json()["outputs"]["tensors"]
    assert list(tensors) == ["probabilities"]
    array = np.load(io.BytesIO(base64.b64decode(tensors["probabilities"]["npy"])))
    assert np.allclose(array, expected(x)[1], atol=1e-6)


@pytest.mark.parametrize("dtype", ["float64", "int64"])
def test_json_numbers_cast_to_the_input_type(client, dtype):
    response = client.post(
        "/api/inference/",
        json={
            "model_id": "tiny-classifier",
            "inputs": {"tensors": {"x": {"dtype": dtype, "data": [[1, 0, 0, 0]]}}},
        },
    )
    assert response.status_code == 200
    logits = response.json()["outputs"]["tensors"]["logits"]
    assert np.allclose(logits["data"], expected(np.array([[1, 0, 0, 0]], dtype=np.float32))[0])
    assert "npy" not in logits


@pytest.mark.parametrize(
    ("tensors", "parameters", "param"),
    [
        ({"y": {"dtype": "float32", "data": [[1, 2, 3, 4]]}}, {}, "$.inputs.tensors"),
        ({"x": {"npy": STRING_NPY}}, {}, "$.inputs.tensors.x"),
        ({"x": {"dtype": "float32", "data": [1, 2, 3]}}, {}, "$.inputs"),
        ({"x": {"dtype": "float32", "shape": [2, 4], "data": [1, 2, 3]}}, {}, "$.inputs.tensors.x"),
        ({"x": {"dtype": "complex", "data": [1]}}, {}, "$.inputs.tensors.x"),
        ({"x": {"npy": "not base64!"}}, {}, "$.inputs.tensors.x"),
        (
            {"x": {"dtype": "float32", "data": [[1, 2, 3, 4]]}},
            {"outputs": ["nope"]},
            "$.parameters.outputs",
        ),
        (
            {"x": {"dtype": "float32", "data": [[1, 2, 3, 4]]}},
            {"encoding": "xml"},
            "$.parameters.encoding",
        ),
    ],
)
def test_bad_tensors_are_422(client, tensors, parameters, param):
    response = client.post(
        "/api/inference/",
        json={
            "model_id": "tiny-classifier",
            "inputs": {"tensors": tensors},
            "parameters": parameters,
        },
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["param"] == param


def test_corrupt_onnx_file_is_409(make_runtime, serve, base_env):
    (Path(base_env["MODEL_DIR"]) / "broken.onnx").write_bytes(b"this is not onnx")
    with serve(make_runtime()) as client:
        response = client.post("/api/models/broken/load")
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "invalid_model_file"
        status = client.get("/api/models/broken/status").json()
        assert status["state"] == "available"
        assert status["detail"].startswith("last load failed: cannot load")
