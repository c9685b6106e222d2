"""The reserved text scoring tasks (``text-classification``, ``rerank``): the core
registers every reserved id, so a plugin only serves them; their SDK types decode the
documented wire forms; the output builders sort and cut as the docs say; the public
shorthand helpers."""

from __future__ import annotations

import msgspec
import pytest

from altlas.default_plugins.tasks import RESERVED_TASKS
from altlas_sdk.simple import SimplePlugin
from altlas_sdk.tasks import (
    RERANK,
    TASK_IDS,
    TEXT_CLASSIFICATION,
    field_shorthand,
    texts_shorthand,
)
from altlas_sdk.text.tasks import (
    TEXT_TASKS,
    RerankInput,
    RerankOutput,
    RerankParameters,
    TextClassificationInput,
    TextClassificationParameters,
    TextClassificationResult,
)

SPECS = {spec.id: spec for spec in TEXT_TASKS}


def test_the_core_registers_every_reserved_task(make_runtime, serve):
    assert [spec.id for spec in RESERVED_TASKS] == list(TASK_IDS)
    with serve(make_runtime(ALTLAS_LOAD_PLUGINS="none")) as client:
        tasks = {task["id"]: task for task in client.get("/api/tasks").json()["tasks"]}
    for task_id in TASK_IDS:
        assert tasks[task_id]["registered_by"] == "altlas.default_plugins.tasks", task_id
    assert tasks[TEXT_CLASSIFICATION]["models"] == [] and tasks[RERANK]["models"] == []


@pytest.mark.parametrize(
    ("task", "inputs"),
    [
        (TEXT_CLASSIFICATION, ["I loved it.", "Dreadful."]),
        (RERANK, {"query": "cat", "documents": ["a kitten", "bonds"]}),
    ],
)
def test_a_reserved_task_no_plugin_serves_answers_task_not_served(
    make_runtime, serve, task, inputs
):
    with serve(make_runtime(ALTLAS_LOAD_PLUGINS="none")) as client:
        response = client.post(f"/api/tasks/{task}", json={"inputs": inputs})
    assert response.status_code == 404, response.text
    error = response.json()["error"]
    assert error["code"] == "task_not_served" and task in error["message"]


def test_text_classification_takes_the_texts_shorthand():
    spec = SPECS[TEXT_CLASSIFICATION]
    assert spec.decode_inputs("Great.") == TextClassificationInput(texts=["Great."])
    assert spec.decode_inputs(["a", "b"]) == TextClassificationInput(texts=["a", "b"])
    assert spec.decode_parameters(None) == TextClassificationParameters(top_k=1)
    with pytest.raises(msgspec.ValidationError, match=r"\$\.texts"):
        spec.decode_inputs([])


def test_rerank_decodes_its_input_and_parameters():
    spec = SPECS[RERANK]
    inputs = spec.decode_inputs({"query": "q", "documents": ["a"]})
    assert inputs == RerankInput(query="q", documents=["a"])
    assert spec.decode_parameters({"top_n": 2}) == RerankParameters(top_n=2)
    with pytest.raises(msgspec.ValidationError, match=r"\$\.top_n"):
        spec.decode_parameters({"top_n": 0})
    with pytest.raises(msgspec.ValidationError, match="documents"):
        spec.decode_inputs({"query": "q", "documents": []})


def test_ranked_sorts_best_first_cuts_to_top_n_and_adds_documents():
    inputs = RerankInput(query="q", documents=["a", "b", "c", "d"])
    ranked = RerankOutput.ranked([0.1, 0.9, 0.5, 0.9], inputs, RerankParameters())
    # Equal scores keep input order.
    assert [r.index for r in ranked.results] == [1, 3, 2, 0]
    assert all(r.document is None for r in ranked.results)
    assert msgspec.to_builtins(ranked.results[0]) == {"index": 1, "relevance_score": 0.9}
    top = RerankOutput.ranked(
        [0.1, 0.9, 0.5, 0.2], inputs, RerankParameters(top_n=2, return_documents=True)
    )
    assert [(r.index, r.document) for r in top.results] == [(1, "b"), (2, "c")]
    with pytest.raises(ValueError, match="3 scores for 4 documents"):
        RerankOutput.ranked([1, 2, 3], inputs, RerankParameters())


def test_top_keeps_the_best_labels():
    result = TextClassificationResult.top({"neg": 0.2, "pos": 0.7, "neutral": 0.1}, 2)
    assert [(label.label, label.score) for label in result.labels] == [("pos", 0.7), ("neg", 0.2)]


def test_the_public_shorthand_helpers():
    assert texts_shorthand("a") == {"texts": ["a"]}
    assert texts_shorthand(["a", "b"]) == {"texts": ["a", "b"]}
    assert texts_shorthand({"texts": ["a"]}) == {"texts": ["a"]}
    text = field_shorthand("text", str)
    assert text("hello") == {"text": "hello"}
    assert text({"text": "hello"}) == {"text": "hello"}
    assert field_shorthand("messages", list)([{"role": "user"}]) == {"messages": [{"role": "user"}]}


def test_a_simple_plugin_needs_a_model():
    with pytest.raises(ValueError, match="at least one"):
        SimplePlugin()
