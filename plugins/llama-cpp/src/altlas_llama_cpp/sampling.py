"""One sequence's sampler chain and the log-probabilities of what it sampled.

Each sequence of the batching engine samples with a llama.cpp sampler chain of its own,
built in the order llama-cpp-python's ``Llama.generate`` uses (penalties, grammar, then
greedy or top-k/top-p/min-p/temperature/dist), so a request decodes the same tokens
whether it runs alone or beside others.
"""

from __future__ import annotations

import random
from typing import Any

from altlas_sdk.tasks import GenerationParameters, TokenLogprob, TopLogprob

# llama.cpp's own sampling defaults, used where a request leaves a parameter unset.
DEFAULTS = {
    "temperature": 0.8,
    "top_p": 0.95,
    "top_k": 40,
    "min_p": 0.05,
    "repeat_penalty": 1.0,
    "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
}
# Tokens the repetition penalties look back over (llama-cpp-python's last_n_tokens_size).
_PENALTY_LAST_N = 64


def value(parameters: GenerationParameters, name: str) -> Any:
    """``parameters.<name>``, or llama.cpp's default when the request left it unset."""
    given = getattr(parameters, name)
    return DEFAULTS[name] if given is None else given


def sampler_chain(llama: Any, parameters: GenerationParameters, grammar: Any) -> Any:
    """A fresh ``llama_cpp._internals.LlamaSampler`` for one sequence."""
    from llama_cpp import _internals

    sampler = _internals.LlamaSampler()
    sampler.add_penalties(
        n_vocab=llama.n_vocab(),
        penalty_last_n=_PENALTY_LAST_N,
        penalty_repeat=value(parameters, "repeat_penalty"),
        penalty_freq=value(parameters, "frequency_penalty"),
        penalty_present=value(parameters, "presence_penalty"),
    )
    if grammar is not None:
        sampler.add_grammar(llama._model, grammar)
    temperature = value(parameters, "temperature")
    if temperature == 0.0:
        sampler.add_greedy()
        return sampler
    seed = parameters.seed if parameters.seed is not None else random.getrandbits(31)
    sampler.add_top_k(value(parameters, "top_k"))
    sampler.add_top_p(value(parameters, "top_p"), 1)
    sampler.add_min_p(value(parameters, "min_p"), 1)
    sampler.add_temp(temperature)
    sampler.add_dist(seed)
    return sampler


def token_logprob(llama: Any, ctx: Any, index: int, token: int, top: int) -> TokenLogprob:
    """The sampled token's log-probability under the model (before temperature and
    penalties, as OpenAI reports it) and the ``top`` most likely tokens, read from the
    logits of batch row ``index``."""
    import llama_cpp
    import numpy as np

    n_vocab = llama.n_vocab()
    pointer = llama_cpp.llama_get_logits_ith(ctx, index)
    logits = np.ctypeslib.as_array(pointer, shape=(n_vocab,)).astype(np.float64)
    logits -= logits.max()
    logprobs = logits - np.log(np.exp(logits).sum())
    best = np.argpartition(-logprobs, top)[:top] if top else np.array([], dtype=int)
    best = best[np.argsort(-logprobs[best])]
    return TokenLogprob(
        token=_text(llama, token),
        logprob=float(logprobs[token]),
        top_logprobs=[
            TopLogprob(token=_text(llama, int(i)), logprob=float(logprobs[i])) for i in best
        ],
    )


def _text(llama: Any, token: int) -> str:
    return llama.detokenize([token]).decode("utf-8", errors="replace")
