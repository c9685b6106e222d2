"""``rerank`` on the onnx backend: a cross-encoder built in code (two logits per pair,
no ``token_type_ids``) and the real MiniLM by cosine."""

from __future__ import annotations

import math

import numpy as np
import pytest

from altlas_onnx.backend import OnnxBackend
from altlas_onnx.catalog import MINILM_L6
from altlas_onnx.rerank import CrossEncoderModel
from altlas_sdk import CancellationToken, ModelSpec
from altlas_sdk.errors import InvalidInput, InvalidModelFile, WeightsMissing
from altlas_sdk.tasks import RERANK
from altlas_sdk.testing.service import loaded_model
from altlas_sdk.text.tasks import RerankInput, RerankOutput, RerankParameters

TOKENIZER = MINILM_L6.files["tokenizer"]


def _length_scorer(path) -> None:
    """A cross-encoder whose "relevant" logit is the pair's token count / 10, and whose
    "not relevant" logit is its negation: output ``[batch, 2]``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes = [
        helper.make_node(
            "Constant",
            [],
            ["tenth"],
            value=numpy_helper.from_array(np.array(0.1, dtype=np.float32)),
        ),
        helper.make_node(
            "Constant", [], ["axis"], value=numpy_helper.from_array(np.array([1], np.int64))
        ),
        helper.make_node("Cast", ["attention_mask"], ["mask"], to=TensorProto.FLOAT),
        helper.make_node("ReduceSum", ["mask", "axis"], ["count"], keepdims=1),
        helper.make_node("Mul", ["count", "tenth"], ["relevant"]),
        helper.make_node("Neg", ["relevant"], ["not_relevant"]),
        helper.make_node("Concat", ["not_relevant", "relevant"], ["logits"], axis=1),
    ]
    inputs = [
        helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "sequence"])
        for name in ("input_ids", "attention_mask")
    ]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 2])]
    graph = helper.make_graph(nodes, "length", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.save(model, str(path))


def _spec(path, **options: object) -> ModelSpec:
    return ModelSpec(
        id="length-scorer",
        backend="onnx",
        tasks=[RERANK],
        source=str(path),
        files={"tokenizer": TOKENIZER},
        options=dict(options),
    )


def _rank(model, query, documents, **parameters) -> RerankOutput:
    output = model.infer(
        RERANK,
        RerankInput(query=query, documents=documents),
        RerankParameters(**parameters),
        CancellationToken(),
    )
    assert isinstance(output, RerankOutput)
    return output


DOCUMENTS = ["short", "a somewhat longer passage", "the longest passage of these three by far"]


@pytest.fixture(scope="module")
def scorer(tmp_path_factory):
    path = tmp_path_factory.mktemp("ce") / "length.onnx"
    _length_scorer(path)
    return path


def test_a_cross_encoder_scores_each_pair_with_a_sigmoid(scorer, tmp_path):
    with loaded_model(OnnxBackend(), _spec(scorer), tmp_path) as model:
        assert isinstance(model, CrossEncoderModel)
        output = _rank(model, "query", DOCUMENTS, return_documents=True)
    assert [result.index for result in output.results] == [2, 1, 0]
    assert all(0 < result.relevance_score < 1 for result in output.results)
    assert output.results[0].document == DOCUMENTS[2]
    # [CLS] query [SEP] document [SEP]: the tokens read are the pairs' whole lengths.
    assert output.usage.total_tokens > 3 * 4


def test_activation_none_keeps_the_logits_and_top_n_cuts(scorer, tmp_path):
    with loaded_model(OnnxBackend(), _spec(scorer, activation="none"), tmp_path) as model:
        output = _rank(model, "query", DOCUMENTS, top_n=1)
        (pair,) = model.tokenizer.encode_batch([("query", DOCUMENTS[2])])
    (best,) = output.results
    assert best.index == 2 and best.document is None
    assert math.isclose(best.relevance_score, sum(pair.attention_mask) / 10, rel_tol=1e-6)


def test_a_cross_encoder_serves_only_rerank(scorer, tmp_path):
    with loaded_model(OnnxBackend(), _spec(scorer), tmp_path) as model:
        with pytest.raises(InvalidInput):
            model.infer_batch("embedding", [], RerankParameters(), CancellationToken())
    with pytest.raises(InvalidModelFile):
        with loaded_model(OnnxBackend(), _spec(scorer, activation="softmax"), tmp_path):
            pass
    bare = ModelSpec(id="bare", backend="onnx", tasks=[RERANK], source=str(scorer))
    with pytest.raises(WeightsMissing):
        with loaded_model(OnnxBackend(), bare, tmp_path):
            pass


def test_minilm_ranks_by_cosine(tmp_path):
    with loaded_model(OnnxBackend(), MINILM_L6, tmp_path) as model:
        output = _rank(
            model,
            "a sleeping cat",
            ["Bond yields rose.", "A kitten naps on the couch.", "Rain is expected."],
        )
    assert output.results[0].index == 1
    assert output.results[0].relevance_score > output.results[1].relevance_score + 0.2
    assert -1 <= output.results[-1].relevance_score <= 1
