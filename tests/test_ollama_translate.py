"""The Ollama-compatible API's translation, names and rank fusion, on hand-made values
(tests/test_ollama_api.py and tests/test_rerank.py run them through a real server)."""

from __future__ import annotations

import math

import pytest

from altlas.catalog import Catalog, CatalogEntry
from altlas.default_plugins.combiners import ReciprocalRankFusion
from altlas.ollama import names, translate
from altlas.ollama.types import ChatRequest, GenerateRequest, OllamaMessage
from altlas.openai.dimensions import shorten
from altlas_sdk import Member, ModelSpec
from altlas_sdk.errors import BadRequest, NotFound, ValidationFailed
from altlas_sdk.tasks import ChatInput, TextGenerationInput, Usage
from altlas_sdk.text.tasks import RerankOutput, RerankParameters, RerankResult


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, None),
        (0, 0.0),
        (-1, -1.0),
        (300, 300.0),
        ("0", 0.0),
        ("-1", -1.0),
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("1.5s", 1.5),
        ("250ms", 0.25),
        ("-1m", -60.0),
    ],
)
def test_keep_alive_reads_go_durations_and_seconds(value, seconds):
    assert translate.keep_alive_seconds(value) == seconds


@pytest.mark.parametrize("value", ["soon", "5 minutes", "m", "", "5x"])
def test_a_bad_keep_alive_is_a_400(value):
    with pytest.raises(BadRequest) as raised:
        translate.keep_alive_seconds(value)
    assert raised.value.param == "$.keep_alive"


def test_options_map_to_generation_parameters():
    parameters = translate.generation_parameters(
        {"temperature": 0.2, "top_k": 5, "seed": 3, "num_predict": 9, "stop": "\n", "num_ctx": 8},
        "json",
    )
    assert (parameters.temperature, parameters.top_k, parameters.seed) == (0.2, 5, 3)
    assert parameters.max_tokens == 9 and parameters.stop == ["\n"]
    assert parameters.json_schema == {"type": "object"}
    unlimited = translate.generation_parameters({"num_predict": -1}, {"type": "array"})
    assert unlimited.max_tokens is None and unlimited.json_schema == {"type": "array"}
    with pytest.raises(ValidationFailed) as raised:
        translate.generation_parameters({"temperature": "hot"}, None)
    assert raised.value.param.startswith("$.options")
    with pytest.raises(BadRequest):
        translate.generation_parameters({}, "yaml")


def test_generate_goes_through_the_chat_template_unless_raw():
    task, inputs, _ = translate.generate_request(
        GenerateRequest(model="m", prompt="Hi", system="Be brief.")
    )
    assert task == "chat" and isinstance(inputs, ChatInput)
    assert [(m.role, m.content) for m in inputs.messages] == [
        ("system", "Be brief."),
        ("user", "Hi"),
    ]
    task, inputs, parameters = translate.generate_request(
        GenerateRequest(model="m", prompt="Hi", raw=True)
    )
    assert task == "text-generation" and isinstance(inputs, TextGenerationInput)
    assert parameters.raw is True


def test_chat_refuses_images_and_tools():
    with pytest.raises(BadRequest, match="vision"):
        translate.chat_request(
            ChatRequest(model="m", messages=[OllamaMessage(role="user", images=["AA=="])])
        )
    with pytest.raises(BadRequest, match="tool"):
        translate.chat_request(
            ChatRequest(model="m", messages=[OllamaMessage(role="user")], tools=[{}])
        )


def test_timings_split_at_the_first_token():
    timings = translate.timings(
        started=10.0, first=12.5, finished=14.0, load_ms=2000, prompt_tokens=7, completion_tokens=3
    )
    assert timings.total_duration == 4_000_000_000
    assert timings.load_duration == 2_000_000_000
    assert timings.prompt_eval_duration == 500_000_000
    assert timings.eval_duration == 1_500_000_000
    assert (timings.prompt_eval_count, timings.eval_count) == (7, 3)


def _catalog(*specs: ModelSpec) -> Catalog:
    return Catalog({spec.id: CatalogEntry(spec=spec, provided_by="test") for spec in specs})


def _spec(model_id: str, **tags: object) -> ModelSpec:
    return ModelSpec(id=model_id, backend="b", tasks=["chat"], source="x", tags=dict(tags))


def test_names_resolve_through_ids_and_aliases():
    catalog = _catalog(_spec("smollm2-135m-instruct", aliases=["smollm2:135m"]), _spec("other"))
    assert names.resolve(catalog, "SmolLM2:135M") == "smollm2-135m-instruct"
    assert names.resolve(catalog, "smollm2-135m-instruct:latest") == "smollm2-135m-instruct"
    assert names.resolve(catalog, "other") == "other"
    with pytest.raises(NotFound):
        names.resolve(catalog, "smollm2:360m")
    assert names.listed_name(_spec("a", aliases=["a:1b"])) == "a:1b"
    assert names.listed_name(_spec("a", aliases="b")) == "b:latest"
    assert names.listed_name(_spec("a")) == "a:latest"


def test_dimensions_need_a_matryoshka_model():
    vectors = [[0.6, 0.8, 0.0, 0.0]]
    plain, matryoshka = _spec("plain"), _spec("m", matryoshka=True)
    assert shorten(vectors, None, plain, param="$.dimensions") == vectors
    assert shorten(vectors, 4, plain, param="$.dimensions") == vectors
    with pytest.raises(BadRequest, match="Matryoshka"):
        shorten(vectors, 2, plain, param="$.dimensions")
    with pytest.raises(BadRequest):
        shorten(vectors, 5, matryoshka, param="$.dimensions")
    (short,) = shorten([[3.0, 4.0, 12.0]], 2, matryoshka, param="$.dimensions")
    assert short == pytest.approx([0.6, 0.8])


def _ranking(*indexes: int, tokens: int = 10) -> RerankOutput:
    return RerankOutput(
        results=[
            RerankResult(index=i, relevance_score=1.0 / (n + 1)) for n, i in enumerate(indexes)
        ],
        usage=Usage(prompt_tokens=tokens, total_tokens=tokens),
    )


def test_reciprocal_rank_fusion_counts_ranks_not_scores():
    fused = ReciprocalRankFusion().combine(
        "rerank",
        [Member("a", 1.0, _ranking(2, 0, 1)), Member("b", 1.0, _ranking(0, 2, 1, tokens=5))],
        RerankParameters(),
    )
    order = [result.index for result in fused.results]
    # 2 and 0 each have a first and a second place: a tie, broken by index.
    assert order == [0, 2, 1]
    assert math.isclose(fused.results[0].relevance_score, (1 / 61 + 1 / 62) / 2, rel_tol=1e-6)
    assert math.isclose(fused.results[2].relevance_score, 1 / 63, rel_tol=1e-6)
    assert fused.usage.total_tokens == 15


def test_reciprocal_rank_fusion_weighs_members_and_cuts_to_top_n():
    fused = ReciprocalRankFusion().combine(
        "rerank",
        [Member("a", 3.0, _ranking(2, 0, 1)), Member("b", 1.0, _ranking(0, 2, 1))],
        RerankParameters(top_n=1),
    )
    assert [result.index for result in fused.results] == [2]
