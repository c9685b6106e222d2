"""Rerank quality: a cross-encoder against the default embedding models' cosine ranking.

The 20 questions of ``rerank_data.py`` each come with one passage that answers them and
four near misses, shuffled with a fixed seed. Every ranker ranks the same five passages
through ``POST /v1/rerank`` of a real server (uvicorn in a thread, ``RESPONSE_CACHE=none``):

- ``lexical-cross-encoder``: the cross-encoder built in code by ``cross_encoder.py``
  (no trained reranker ships in a PyPI package), served by the onnx backend;
- ``all-minilm-l6-v2`` and ``paraphrase-minilm-l3-v2``: the default catalog's sentence
  encoders, which serve ``rerank`` by cosine;
- ``rrf(lexical, all-minilm-l6-v2)``: both fused by reciprocal rank fusion through
  ``/api/inference/orchestrated``.

Accuracy@1 is the share of questions whose answer comes first; MRR is the mean of
1 / (the answer's rank). A model given with ``--cross-encoder MODEL.onnx`` (an exported
sentence-transformers CrossEncoder, with ``--tokenizer`` its tokenizer.json) is measured
in place of the built one.

    python bench/rerank.py [--cross-encoder MODEL.onnx --tokenizer tokenizer.json]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import httpx
from cross_encoder import build, minilm_tokenizer
from rerank_data import QUERIES

from altlas_sdk.testing.server import serving
from altlas_sdk.testing.service import asgi_app, build_runtime

SEED = 17
EMBEDDERS = ("all-minilm-l6-v2", "paraphrase-minilm-l3-v2")
RERANKER = "cross-encoder"


def shuffled() -> list[tuple[str, list[str], int]]:
    """Each question, its passages in a fixed random order, and where the answer is."""
    rng = random.Random(SEED)
    cases = []
    for query, passages in QUERIES:
        order = list(range(len(passages)))
        rng.shuffle(order)
        cases.append((query, [passages[i] for i in order], order.index(0)))
    return cases


def _config(model: Path, tokenizer: Path) -> str:
    return (
        f"[models.{RERANKER}]\n"
        'backend = "onnx"\n'
        'tasks = ["rerank"]\n'
        f'source = "{model}"\n'
        f'files = {{ tokenizer = "{tokenizer}" }}\n'
        'description = "the cross-encoder under test"\n'
    )


def _rank_v1(client: httpx.Client, model: str, query: str, documents: list[str]) -> list[int]:
    response = client.post(
        "/v1/rerank", json={"model": model, "query": query, "documents": documents}
    )
    response.raise_for_status()
    return [result["index"] for result in response.json()["results"]]


def _rank_rrf(client: httpx.Client, query: str, documents: list[str]) -> list[int]:
    response = client.post(
        "/api/inference/orchestrated",
        json={
            "task_type": "rerank",
            "inputs": {"query": query, "documents": documents},
            "ensemble": [RERANKER, EMBEDDERS[0]],
            "combiner": "reciprocal-rank-fusion",
        },
    )
    response.raise_for_status()
    return [result["index"] for result in response.json()["outputs"]["results"]]


def measure(client: httpx.Client) -> dict[str, tuple[float, float, float]]:
    """Accuracy@1, MRR and milliseconds per question for each ranker."""
    rankers = {
        name: (lambda q, d, m=name: _rank_v1(client, m, q, d)) for name in (RERANKER, *EMBEDDERS)
    }
    rankers[f"rrf({RERANKER}, {EMBEDDERS[0]})"] = lambda q, d: _rank_rrf(client, q, d)
    cases = shuffled()
    figures = {}
    for name, rank in rankers.items():
        rank(cases[0][0], cases[0][1])  # loads the model(s) outside the timing
        hits, reciprocal, started = 0, 0.0, time.perf_counter()
        for query, documents, answer in cases:
            position = rank(query, documents).index(answer) + 1
            hits += position == 1
            reciprocal += 1 / position
        elapsed = (time.perf_counter() - started) * 1000 / len(cases)
        figures[name] = (hits / len(cases), reciprocal / len(cases), elapsed)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cross-encoder", type=Path, help="an exported cross-encoder (.onnx)")
    parser.add_argument("--tokenizer", type=Path, help="its tokenizer.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        tokenizer = args.tokenizer or minilm_tokenizer()
        model = args.cross_encoder or build(root / "lexical-cross-encoder.onnx", tokenizer)
        config = root / "altlas.toml"
        config.write_text(_config(model.resolve(), tokenizer.resolve()))
        (root / "models").mkdir()
        runtime = build_runtime(
            {
                "MODEL_DIR": str(root / "models"),
                "CACHE_DIR": str(root / "cache"),
                "RESPONSE_CACHE": "none",
                "USE_GPU": "false",
            },
            config_path=config,
        )
        with serving(asgi_app(runtime)) as url, httpx.Client(base_url=url, timeout=120) as client:
            figures = measure(client)
    label = "built in code" if args.cross_encoder is None else str(args.cross_encoder)
    print(f"{len(QUERIES)} questions x 5 passages; cross-encoder: {label}")
    print(f"{'ranker':<44} {'acc@1':>6} {'MRR':>6} {'ms/q':>7}")
    for name, (accuracy, mrr, ms) in figures.items():
        print(f"{name:<44} {accuracy:>6.2f} {mrr:>6.3f} {ms:>7.1f}")


if __name__ == "__main__":
    main()
