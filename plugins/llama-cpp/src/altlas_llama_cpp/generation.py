"""The text side of a generation: turn the engine's tokens into text.

The batching engine (:mod:`altlas_llama_cpp.engine`) decodes and samples; this loop, on
the caller's thread, checks the request against the context, decodes tokens into text
incrementally, holds back text that may be the start of a stop sequence, counts tokens
exactly and hands on the log-probabilities the engine read from each token's logits.
Closing it early (a stop sequence, a consumer that went away) frees the sequence.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from altlas_llama_cpp.engine import BatchEngine, End, Request
from altlas_sdk import CancellationToken
from altlas_sdk.errors import BadRequest, InvalidInput
from altlas_sdk.tasks import FinishReason, GenerationParameters, TokenLogprob


@dataclass
class Piece:
    """Text ready to send, and the log-probabilities of the tokens that made it."""

    text: str
    logprobs: list[TokenLogprob] = field(default_factory=list)


@dataclass
class Generation:
    """One run of the loop. Iterate :meth:`pieces`; afterwards ``finish_reason`` and the
    token counts are final."""

    engine: BatchEngine
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
        llama, parameters = self.engine.llama, self.parameters
        n_ctx = self.engine.n_ctx
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
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        text = ""  # everything generated so far
        sent = 0  # characters of ``text`` already yielded
        pending: list[TokenLogprob] = []
        matched_stop = False
        request = Request(self.prompt_tokens, parameters, self.grammar, self.cancel, limit)
        events = self.engine.submit(request)
        try:
            for event in events:
                if isinstance(event, End):
                    self.finish_reason = event.reason
                    break
                self.completion_tokens += 1
                piece = llama.detokenize([event.id])
                if event.logprob is not None:
                    pending.append(event.logprob)
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
        finally:
            # Frees the sequence at the engine's next step.
            events.close()
        if self.finish_reason is None:
            self.finish_reason = "length"
        if not matched_stop:
            text += decoder.decode(b"", final=True)
        if len(text) > sent or pending:
            yield Piece(text[sent:], pending)


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
