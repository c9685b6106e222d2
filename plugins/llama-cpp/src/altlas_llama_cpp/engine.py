"""Continuous batching: the concurrent requests to one model decode together.

One llama.cpp context holds ``parallel`` sequences, each with a KV cache of its own
(``n_ctx`` tokens; llama.cpp's non-unified cache, so a sequence attends over its own
cells only). One engine thread owns the context: between decode steps it admits waiting
requests into free slots and drops finished or cancelled ones, then decodes one batch
holding the next token of every generating sequence and as many prompt tokens of newly
admitted ones as ``n_batch`` leaves room for, the way llama.cpp's own server does. Each
sequence samples with its own sampler chain (its parameters, grammar and seed).

The prompt cache: a slot keeps the KV state of the last request it served. A new
request takes the free slot whose cached tokens share the longest prefix with its
prompt and evaluates only the rest, so the next turn of a chat (or a fixed system
prompt) is not computed again. The cache lives in the slots' own KV memory, so it costs
nothing beyond the context, and ``prompt_cache = false`` turns it off.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from altlas_llama_cpp.sampling import sampler_chain, token_logprob
from altlas_sdk import CancellationToken
from altlas_sdk.errors import InternalError
from altlas_sdk.tasks import FinishReason, GenerationParameters, TokenLogprob

logger = logging.getLogger(__name__)


@dataclass
class Token:
    """A sampled token, with its log-probabilities when the request asked for them."""

    id: int
    logprob: TokenLogprob | None = None


@dataclass
class End:
    """The sequence ended in the engine (end of generation, ``limit`` or cancelled)."""

    reason: FinishReason


@dataclass
class Request:
    """One sequence to run: what the caller submits and reads back from ``events``."""

    tokens: Sequence[int]
    parameters: GenerationParameters
    grammar: Any
    cancel: CancellationToken
    limit: int
    events: queue.SimpleQueue[Token | End | BaseException] = field(
        default_factory=queue.SimpleQueue
    )
    closed: bool = False


@dataclass
class _Slot:
    """A sequence id of the context and the tokens its KV cache holds."""

    seq: int
    cached: list[int] = field(default_factory=list)
    request: Request | None = None
    sampler: Any = None
    pending: list[int] = field(default_factory=list)  # to evaluate before sampling
    generated: int = 0
    last_used: int = 0


@dataclass
class EngineStats:
    """Monotonic counts, read by ``LoadedModel.counters`` for /metrics."""

    sequences: int = 0
    decode_steps: int = 0
    prompt_tokens_evaluated: int = 0
    prompt_cache_hits: int = 0
    prompt_cache_tokens_reused: int = 0
    generated_tokens: int = 0
    #: Sequences freed before their end because the caller cancelled or went away.
    sequences_cancelled: int = 0
    #: Tokens sampled in a step that sampled for two sequences or more.
    batched_tokens: int = 0
    #: The most sequences that have generated in one step.
    max_sequences_together: int = 0


class BatchEngine:
    """Runs the sequences of one llama.cpp context on one thread of its own.

    ``llama`` is a ``llama_cpp.Llama`` whose model (weights, vocabulary) the engine
    shares; its context is created here with ``parallel`` sequences of ``n_ctx`` each.
    """

    def __init__(
        self, llama: Any, *, parallel: int, n_ctx: int, n_batch: int, prompt_cache: bool = True
    ) -> None:
        import llama_cpp
        from llama_cpp import _internals

        self.llama, self.n_ctx, self.parallel = llama, n_ctx, parallel
        self.prompt_cache = prompt_cache
        self.stats = EngineStats()
        params = type(llama.context_params).from_buffer_copy(llama.context_params)
        params.n_seq_max = parallel
        params.n_ctx = n_ctx * parallel
        params.kv_unified = False
        self.n_batch = max(n_batch, parallel)
        params.n_batch = params.n_ubatch = self.n_batch
        # Closed by the Llama's own exit stack, before the model it uses.
        self._context = llama._stack.enter_context(
            contextlib.closing(_internals.LlamaContext(model=llama._model, params=params))
        )
        self._ctx = self._context.ctx
        self._memory = llama_cpp.llama_get_memory(self._ctx)
        self._batch = llama_cpp.llama_batch_init(self.n_batch, 0, 1)
        self._vocab = llama_cpp.llama_model_get_vocab(llama.model)
        self._slots = [_Slot(seq) for seq in range(parallel)]
        self._waiting: list[Request] = []
        self._lock = threading.Condition()
        self._clock = 0
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="llama-cpp-engine", daemon=True)
        self._thread.start()

    # --- the callers' side ------------------------------------------------------------

    def submit(self, request: Request) -> Iterator[Token | End]:
        """Queue ``request`` and yield its tokens, then one :class:`End` (unless the
        caller stops early: closing the iterator frees the sequence at the next step)."""
        with self._lock:
            if self._stopped:
                raise InternalError("the model is unloading")
            self._waiting.append(request)
            self._lock.notify()
        try:
            while True:
                event = request.events.get()
                if isinstance(event, BaseException):
                    raise event
                yield event
                if isinstance(event, End):
                    return
        finally:
            with self._lock:
                request.closed = True
                self._lock.notify()

    def active_sequences(self) -> int:
        """How many sequences hold a slot now (generating or evaluating their prompt)."""
        with self._lock:
            return len(self._active())

    def close(self) -> None:
        """Stop the thread (failing what still runs) and free the batch."""
        import llama_cpp

        with self._lock:
            self._stopped = True
            self._lock.notify()
        self._thread.join()
        llama_cpp.llama_batch_free(self._batch)

    # --- the engine thread ------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._lock:
                self._retire()
                self._admit()
                while not self._stopped and not self._active():
                    self._lock.wait()
                    self._retire()
                    self._admit()
                if self._stopped:
                    self._fail_all(InternalError("the model was unloaded"))
                    return
            try:
                self._step()
            except Exception as error:
                logger.exception("llama.cpp decoding failed")
                with self._lock:
                    self._fail_all(InternalError(f"llama.cpp decoding failed: {error}"))

    def _active(self) -> list[_Slot]:
        return [slot for slot in self._slots if slot.request is not None]

    def _retire(self) -> None:
        """Free the slots whose caller has gone or whose request was cancelled."""
        for slot in self._active():
            request = slot.request
            assert request is not None
            if request.cancel.cancelled or request.closed:
                if not request.closed:
                    request.events.put(End("cancelled"))
                self.stats.sequences_cancelled += 1
                self._free(slot)

    def _free(self, slot: _Slot) -> None:
        slot.request = None
        slot.pending = []
        if slot.sampler is not None:
            slot.sampler.close()
            slot.sampler = None
        if not self.prompt_cache:
            self._clear(slot)

    def _admit(self) -> None:
        """Give waiting requests the free slots, best cached prefix first."""
        while self._waiting:
            free = [slot for slot in self._slots if slot.request is None]
            if not free:
                return
            request = self._waiting.pop(0)
            if request.cancel.cancelled:
                request.events.put(End("cancelled"))
                continue
            if request.closed:
                continue
            slot, reuse = self._best_slot(free, request.tokens)
            self._start(slot, request, reuse)

    def _best_slot(self, free: list[_Slot], tokens: Sequence[int]) -> tuple[_Slot, int]:
        best, reuse = min(free, key=lambda slot: slot.last_used), 0
        if self.prompt_cache:
            for slot in free:
                shared = _common_prefix(slot.cached, tokens)
                if shared > reuse:
                    best, reuse = slot, shared
        # At least one prompt token is evaluated, for the logits of the first sample.
        return best, min(reuse, len(tokens) - 1)

    def _start(self, slot: _Slot, request: Request, reuse: int) -> None:
        import llama_cpp

        if reuse > 0 and llama_cpp.llama_memory_seq_rm(self._memory, slot.seq, reuse, -1):
            self.stats.prompt_cache_hits += 1
            self.stats.prompt_cache_tokens_reused += reuse
        else:
            # A model whose cache cannot drop a partial sequence (recurrent, SWA).
            reuse = 0
            self._clear(slot)
        self._clock += 1
        slot.cached = list(request.tokens[:reuse])
        slot.pending = list(request.tokens[reuse:])
        slot.request, slot.generated, slot.last_used = request, 0, self._clock
        # Prompt tokens are not accepted into the chain (as in Llama.generate): the
        # grammar constrains the completion only.
        slot.sampler = sampler_chain(self.llama, request.parameters, request.grammar)
        self.stats.sequences += 1
        self.stats.prompt_tokens_evaluated += len(slot.pending)

    def _clear(self, slot: _Slot) -> None:
        import llama_cpp

        llama_cpp.llama_memory_seq_rm(self._memory, slot.seq, -1, -1)
        slot.cached = []

    def _fail_all(self, error: BaseException) -> None:
        for slot in self._active():
            assert slot.request is not None
            slot.request.events.put(error)
            self._free(slot)
            self._clear(slot)
        for request in self._waiting:
            request.events.put(error)
        self._waiting.clear()

    def _step(self) -> None:
        """One decode: every generating sequence's last token, then prompt chunks."""
        import llama_cpp

        batch, rows = self._batch, {}
        batch.n_tokens = 0
        slots = self._active()
        # Generating sequences first, so a long prompt never stalls their next token.
        for slot in sorted(slots, key=lambda s: len(s.pending) > 1):
            room = self.n_batch - batch.n_tokens
            if room <= 0:
                break
            chunk = slot.pending[:room]
            for token in chunk:
                _add(batch, token, len(slot.cached), slot.seq)
                slot.cached.append(token)
            del slot.pending[: len(chunk)]
            if not slot.pending:
                batch.logits[batch.n_tokens - 1] = True
                rows[slot.seq] = batch.n_tokens - 1
        if batch.n_tokens == 0:
            return
        status = llama_cpp.llama_decode(self._ctx, batch)
        if status != 0:
            raise RuntimeError(f"llama_decode returned {status}")
        self.stats.decode_steps += 1
        sampled = [slot for slot in slots if slot.seq in rows]
        self.stats.max_sequences_together = max(self.stats.max_sequences_together, len(sampled))
        if len(sampled) > 1:
            self.stats.batched_tokens += len(sampled)
        for slot in sampled:
            self._sample(slot, rows[slot.seq])

    def _sample(self, slot: _Slot, row: int) -> None:
        import llama_cpp

        request = slot.request
        assert request is not None
        token = slot.sampler.sample(self._context, row)
        self.stats.generated_tokens += 1
        if llama_cpp.llama_vocab_is_eog(self._vocab, token):
            request.events.put(End("stop"))
            self._free(slot)
            return
        top = request.parameters.logprobs
        logprob = None
        if top is not None:
            logprob = token_logprob(self.llama, self._ctx, row, token, top)
        request.events.put(Token(token, logprob))
        slot.generated += 1
        if slot.generated >= request.limit or len(slot.cached) >= self.n_ctx:
            request.events.put(End("length"))
            self._free(slot)
        else:
            slot.pending = [token]


def _add(batch: Any, token: int, position: int, seq: int) -> None:
    index = batch.n_tokens
    batch.token[index] = token
    batch.pos[index] = position
    batch.n_seq_id[index] = 1
    batch.seq_id[index][0] = seq
    batch.logits[index] = False
    batch.n_tokens = index + 1


def _common_prefix(cached: Sequence[int], tokens: Sequence[int]) -> int:
    size = min(len(cached), len(tokens))
    for index in range(size):
        if cached[index] != tokens[index]:
            return index
    return size
