"""The token loop: sample from llama.cpp one token at a time and turn tokens into text.

llama-cpp-python's ``create_completion`` re-decodes the whole completion at every token
and reports no token counts while streaming. This loop drives ``Llama.generate``
directly: it decodes incrementally, holds back text that may be the start of a stop
sequence, counts tokens exactly, reads log-probabilities from the last logits (no
``logits_all`` buffer needed), and checks the cancellation token between tokens.
"""

from __future__ import annotations

import codecs
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from altlas_sdk import CancellationToken
from altlas_sdk.errors import BadRequest, InvalidInput
from altlas_sdk.tasks import FinishReason, GenerationParameters, TokenLogprob, TopLogprob

# llama.cpp's own sampling defaults, used where a request leaves a parameter unset.
_DEFAULTS = {
    "temperature": 0.8,
    "top_p": 0.95,
    "top_k": 40,
    "min_p": 0.05,
    "repeat_penalty": 1.0,
    "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
}


@dataclass
class Piece:
    """Text ready to send, and the log-probabilities of the tokens that made it."""

    text: str
    logprobs: list[TokenLogprob] = field(default_factory=list)


@dataclass
class Generation:
    """One run of the loop. Iterate :meth:`pieces`; afterwards ``finish_reason`` and the
    token counts are final."""

    llama: Any
    prompt_tokens: Sequence[int]
    parameters: GenerationParameters
    cancel: CancellationToken
    grammar: Any = None
    #: Text that ends generation besides the request's ``stop`` (a chat template's
    #: end-of-turn marker when the vocabulary does not flag it as end of generation).
    extra_stops: Sequence[str] = ()
    finish_reason: FinishReason | None = None
    completion_tokens: int = 0

    def pieces(self) -> Iterator[Piece]:
        """Yield text as it is generated (never a partial UTF-8 character, never text
        that could still turn out to be a stop sequence)."""
        import llama_cpp

        llama, parameters = self.llama, self.parameters
        # llama.cpp may round the context up; llama-cpp-python's buffers hold what was asked.
        n_ctx = min(llama.n_ctx(), llama.context_params.n_ctx)
        if len(self.prompt_tokens) >= n_ctx:
            raise InvalidInput(
                f"the prompt is {len(self.prompt_tokens)} tokens; the model's context "
                f"holds {n_ctx} (catalog option n_ctx)"
            )
        budget = n_ctx - len(self.prompt_tokens)
        if parameters.max_tokens is not None and parameters.max_tokens > budget:
            # As OpenAI answers: the request cannot be met, so it is refused up front
            # rather than cut short silently.
            asked = len(self.prompt_tokens) + parameters.max_tokens
            raise BadRequest(
                f"This model's maximum context length is {n_ctx} tokens. However, you "
                f"requested {asked} tokens ({len(self.prompt_tokens)} in the prompt, "
                f"{parameters.max_tokens} in the completion). Please reduce the length of "
                "the prompt or max_tokens.",
                param="$.parameters.max_tokens",
                code="context_length_exceeded",
            )
        limit = parameters.max_tokens or budget
        stops = [s for s in (*(parameters.stop or ()), *self.extra_stops) if s]
        longest_stop = max((len(s) for s in stops), default=0)
        vocab = llama_cpp.llama_model_get_vocab(llama.model)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        text = ""  # everything generated so far
        sent = 0  # characters of ``text`` already yielded
        pending: list[TokenLogprob] = []
        matched_stop = False
        llama.set_seed(parameters.seed if parameters.seed is not None else _random_seed())
        tokens = llama.generate(
            list(self.prompt_tokens),
            temp=_value(parameters, "temperature"),
            top_p=_value(parameters, "top_p"),
            top_k=_value(parameters, "top_k"),
            min_p=_value(parameters, "min_p"),
            repeat_penalty=_value(parameters, "repeat_penalty"),
            presence_penalty=_value(parameters, "presence_penalty"),
            frequency_penalty=_value(parameters, "frequency_penalty"),
            grammar=self.grammar,
        )
        try:
            for token in tokens:
                if self.cancel.cancelled:
                    self.finish_reason = "cancelled"
                    break
                if llama_cpp.llama_vocab_is_eog(vocab, token):
                    self.finish_reason = "stop"
                    break
                self.completion_tokens += 1
                piece = llama.detokenize([token])
                if parameters.logprobs is not None:
                    pending.append(_logprob(llama, token, piece, parameters.logprobs))
                text += decoder.decode(piece)
                # A stop sequence may straddle tokens: search the unsent tail only.
                start = max(sent - longest_stop, 0)
                hit = _first_stop(text, stops, start)
                if hit is not None:
                    text, matched_stop = text[:hit], True
                    self.finish_reason = "stop"
                    break
                ready = len(text) - _held_back(text, stops, sent)
                if ready > sent:
                    yield Piece(text[sent:ready], pending)
                    sent, pending = ready, []
                if self.completion_tokens >= limit:
                    self.finish_reason = "length"
                    break
        finally:
            tokens.close()
        if self.finish_reason is None:
            self.finish_reason = "length"
        if not matched_stop:
            text += decoder.decode(b"", final=True)
        if len(text) > sent or pending:
            yield Piece(text[sent:], pending)


def _value(parameters: GenerationParameters, name: str) -> Any:
    value = getattr(parameters, name)
    return _DEFAULTS[name] if value is None else value


def _random_seed() -> int:
    return random.getrandbits(31)


def _first_stop(text: str, stops: Sequence[str], start: int) -> int | None:
    found = [index for s in stops if (index := text.find(s, start)) >= 0]
    return min(found) if found else None


def _held_back(text: str, stops: Sequence[str], sent: int) -> int:
    """How many trailing characters might begin a stop sequence (so wait for more)."""
    held = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text) - sent), held, -1):
            if text.endswith(stop[:size]):
                held = size
                break
    return held


def _logprob(llama: Any, token: int, piece: bytes, top: int) -> TokenLogprob:
    """The sampled token's log-probability under the model (before temperature and
    penalties, as OpenAI reports it) and the ``top`` most likely tokens."""
    import llama_cpp
    import numpy as np

    n_vocab = llama.n_vocab()
    # The logits that produced ``token`` are still the context's last row: generate()
    # yields before it evaluates the token.
    pointer = llama_cpp.llama_get_logits_ith(llama.ctx, -1)
    logits = np.ctypeslib.as_array(pointer, shape=(n_vocab,)).astype(np.float64)
    logits -= logits.max()
    logprobs = logits - np.log(np.exp(logits).sum())
    best = np.argpartition(-logprobs, top)[:top] if top else np.array([], dtype=int)
    best = best[np.argsort(-logprobs[best])]
    return TokenLogprob(
        token=piece.decode("utf-8", errors="replace"),
        logprob=float(logprobs[token]),
        top_logprobs=[
            TopLogprob(
                token=llama.detokenize([int(i)]).decode("utf-8", errors="replace"),
                logprob=float(logprobs[i]),
            )
            for i in best
        ],
    )
