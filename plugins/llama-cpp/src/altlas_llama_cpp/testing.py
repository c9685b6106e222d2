"""A tiny random-weight llama GGUF, for tests of code that drives the backend.

Two layers, a 300-token SentencePiece vocabulary with byte fallback (so any text
tokenizes) and a ChatML chat template: written with the ``gguf`` package in milliseconds,
it loads in llama.cpp at once and generates deterministic gibberish. Right for testing
code paths, never for a claim about output quality.
"""

from __future__ import annotations

from pathlib import Path

CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
WORDS = ["the", "a", "cat", "dog", "sat", "on", "mat", "Paris", "is", "capital", "of", "France"]


def write_tiny_gguf(
    path: Path, *, n_embd: int = 64, n_layer: int = 2, seed: int = 0, template: bool = True
) -> Path:
    """Write the model to ``path`` and return it."""
    import gguf
    import numpy as np

    rng = np.random.default_rng(seed)
    tokens = ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]
    types = [2, 3, 3, 3, 3]  # unknown, control...
    tokens += [f"<0x{b:02X}>" for b in range(256)]
    types += [6] * 256  # byte fallback
    tokens += ["\u2581" + word for word in WORDS] + WORDS + ["\u2581", "\n"]
    types += [1] * (2 * len(WORDS) + 2)
    tokens += [f"\u2581w{i}" for i in range(300 - len(tokens))]
    types += [1] * (300 - len(types))
    n_vocab, n_head, n_head_kv, n_ff = len(tokens), 4, 2, 4 * n_embd
    head_dim = n_embd // n_head

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny-random-llama")
    writer.add_context_length(256)
    writer.add_embedding_length(n_embd)
    writer.add_block_count(n_layer)
    writer.add_feed_forward_length(n_ff)
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_head_kv)
    writer.add_rope_dimension_count(head_dim)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores([-float(i) for i in range(n_vocab)])
    writer.add_token_types(types)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(4)  # <|im_end|>, as in ChatML models
    writer.add_unk_token_id(0)
    writer.add_add_bos_token(True)
    if template:
        writer.add_chat_template(CHATML)

    def weight(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.2).astype(np.float32)

    writer.add_tensor("token_embd.weight", weight(n_vocab, n_embd))
    writer.add_tensor("output_norm.weight", np.ones(n_embd, dtype=np.float32))
    writer.add_tensor("output.weight", weight(n_vocab, n_embd))
    for layer in range(n_layer):
        prefix = f"blk.{layer}"
        writer.add_tensor(f"{prefix}.attn_norm.weight", np.ones(n_embd, dtype=np.float32))
        writer.add_tensor(f"{prefix}.attn_q.weight", weight(n_embd, n_embd))
        writer.add_tensor(f"{prefix}.attn_k.weight", weight(n_head_kv * head_dim, n_embd))
        writer.add_tensor(f"{prefix}.attn_v.weight", weight(n_head_kv * head_dim, n_embd))
        writer.add_tensor(f"{prefix}.attn_output.weight", weight(n_embd, n_embd))
        writer.add_tensor(f"{prefix}.ffn_norm.weight", np.ones(n_embd, dtype=np.float32))
        writer.add_tensor(f"{prefix}.ffn_gate.weight", weight(n_ff, n_embd))
        writer.add_tensor(f"{prefix}.ffn_up.weight", weight(n_ff, n_embd))
        writer.add_tensor(f"{prefix}.ffn_down.weight", weight(n_embd, n_ff))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
