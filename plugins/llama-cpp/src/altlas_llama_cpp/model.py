"""A loaded GGUF model: text generation, chat (the file's own chat template) and
embeddings."""

from __future__ import annotations

import contextlib
import json
import queue
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from altlas_llama_cpp.generation import Generation, Piece
from altlas_sdk import CancellationToken, Device, LoadedModel, MemoryEstimate
from altlas_sdk.errors import InvalidInput
from altlas_sdk.tasks import (
    CHAT,
    EMBEDDING,
    TEXT_GENERATION,
    ChatInput,
    ChatMessage,
    ChatOutput,
    EmbeddingInput,
    EmbeddingOutput,
    EmbeddingParameters,
    GenerationParameters,
    TextGenerationInput,
    TextGenerationOutput,
    Usage,
)

if TYPE_CHECKING:
    from msgspec import Struct


class LlamaCppModel(LoadedModel):
    """``llama_cpp.Llama`` contexts for generation and, when the entry serves embeddings,
    one created with ``embedding=True`` (a context does one or the other).

    A context is not thread-safe. The backend's ``max_concurrency`` is 1; an entry that
    sets ``max_concurrency`` to N gets N generation contexts (the weights are mapped
    once and shared), and each call takes one for itself.
    """

    def __init__(
        self,
        *,
        generators: list[Any],
        embedder: Any | None,
        chat_template: str | None,
        templated_prompts: bool,
        device: Device,
        memory: MemoryEstimate,
        version: str,
    ) -> None:
        self.generators = generators
        self.embedder = embedder
        self.device = device
        self.version = version
        self._memory = memory
        self._idle: queue.SimpleQueue[Any] = queue.SimpleQueue()
        for context in generators:
            self._idle.put(context)
        # One formatter (a Jinja template, no llama.cpp state) serves every context.
        self._chat = _chat_formatter(generators[0], chat_template) if generators else None
        self._templated_prompts = templated_prompts

    def memory(self) -> MemoryEstimate | None:
        # RSS growth misses what llama.cpp maps lazily or puts on the GPU: report the
        # split computed from the file and the offloaded layers.
        return self._memory

    # --- the LoadedModel interface ------------------------------------------------

    def infer(
        self, task: str, inputs: Struct, parameters: Struct, cancel: CancellationToken
    ) -> Struct:
        if task == EMBEDDING:
            assert isinstance(inputs, EmbeddingInput)
            assert isinstance(parameters, EmbeddingParameters)
            return self._embed(inputs, parameters, cancel)
        cancel.raise_if_cancelled()
        with self._context() as llama:
            generation = self._start(llama, task, inputs, parameters, cancel)
            pieces = list(generation.pieces())
        text = "".join(piece.text for piece in pieces)
        logprobs = [lp for piece in pieces for lp in piece.logprobs]
        wanted = logprobs if _wants_logprobs(parameters) else None
        return self._output(task, generation, text, wanted)

    def stream(
        self, task: str, inputs: Struct, parameters: Struct, cancel: CancellationToken
    ) -> Iterator[Struct]:
        if task == EMBEDDING:
            yield self.infer(task, inputs, parameters, cancel)
            return
        wants = _wants_logprobs(parameters)
        with self._context() as llama:
            generation = self._start(llama, task, inputs, parameters, cancel)
            # Closed before the context goes back, even when the consumer stops early.
            with contextlib.closing(generation.pieces()) as pieces:
                for piece in pieces:
                    yield self._chunk(task, piece, wants)
        yield self._output(task, generation, "", None)

    def unload(self) -> None:
        for llama in [*self.generators, self.embedder]:
            if llama is not None:
                llama.close()
        self.generators, self.embedder = [], None

    @contextlib.contextmanager
    def _context(self) -> Iterator[Any]:
        """A generation context for this call alone."""
        if not self.generators:
            raise InvalidInput("this model serves embeddings only; ask for 'embedding'")
        llama = self._idle.get()
        try:
            yield llama
        finally:
            self._idle.put(llama)

    # --- generation -----------------------------------------------------------------

    def _start(
        self,
        llama: Any,
        task: str,
        inputs: Struct,
        parameters: Struct,
        cancel: CancellationToken,
    ) -> Generation:
        assert isinstance(parameters, GenerationParameters)
        extra_stops: tuple[str, ...] = ()
        if task == TEXT_GENERATION and (parameters.raw or not self._templated_prompts):
            assert isinstance(inputs, TextGenerationInput)
            if not inputs.prompt:
                raise InvalidInput("the prompt is empty", param="$.inputs.prompt")
            tokens = llama.tokenize(inputs.prompt.encode("utf-8"), add_bos=True, special=True)
        elif task in (TEXT_GENERATION, CHAT):
            if isinstance(inputs, TextGenerationInput):
                inputs = ChatInput(messages=[ChatMessage(role="user", content=inputs.prompt)])
            assert isinstance(inputs, ChatInput)
            prompt, extra_stops = self._chat_prompt(inputs)
            tokens = llama.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
            # As llama.cpp's server does: BOS where the vocabulary wants one, once, even
            # when the template writes it too.
            if len(tokens) > 1 and tokens[0] == tokens[1] == llama.token_bos():
                tokens = tokens[1:]
        else:
            raise InvalidInput(f"the llama-cpp backend does not serve task '{task}'")
        return Generation(
            llama,
            tokens,
            parameters,
            cancel,
            grammar=_grammar(llama, parameters),
            extra_stops=extra_stops,
        )

    def _chat_prompt(self, inputs: ChatInput) -> tuple[str, tuple[str, ...]]:
        if self._chat is None:
            raise InvalidInput(
                "this model's GGUF file has no chat template; give the catalog entry a "
                "'chat_template' option, or use text-generation",
                param="$.inputs.messages",
            )
        messages = [{"role": m.role, "content": m.content} for m in inputs.messages]
        try:
            formatted = self._chat(messages=messages)
        except Exception as error:  # noqa: BLE001 - templates raise_exception() on bad turns
            raise InvalidInput(
                f"the model's chat template rejected the messages: {error}",
                param="$.inputs.messages",
            ) from None
        stops = formatted.stop if isinstance(formatted.stop, list) else [formatted.stop]
        return formatted.prompt, tuple(s for s in stops if s)

    def _chunk(self, task: str, piece: Piece, logprobs: bool) -> Struct:
        if task == CHAT:
            return ChatOutput(
                message=ChatMessage(role="assistant", content=piece.text),
                logprobs=piece.logprobs if logprobs else None,
            )
        return TextGenerationOutput(text=piece.text, logprobs=piece.logprobs if logprobs else None)

    def _output(
        self, task: str, generation: Generation, text: str, logprobs: list[Any] | None
    ) -> Struct:
        prompt = len(generation.prompt_tokens)
        usage = Usage(
            prompt_tokens=prompt,
            completion_tokens=generation.completion_tokens,
            total_tokens=prompt + generation.completion_tokens,
        )
        if task == CHAT:
            return ChatOutput(
                message=ChatMessage(role="assistant", content=text),
                finish_reason=generation.finish_reason,
                usage=usage,
                logprobs=logprobs,
            )
        return TextGenerationOutput(
            text=text, finish_reason=generation.finish_reason, usage=usage, logprobs=logprobs
        )

    # --- embeddings -----------------------------------------------------------------

    def _embed(
        self, inputs: EmbeddingInput, parameters: EmbeddingParameters, cancel: CancellationToken
    ) -> EmbeddingOutput:
        if self.embedder is None:
            raise InvalidInput(
                "this model was loaded for generation; list 'embedding' in its catalog "
                "entry's tasks to serve embeddings"
            )
        llama = self.embedder
        # llama-cpp-python evaluates one text in one batch: n_batch is the limit.
        limit = llama.n_batch
        vectors: list[list[float]] = []
        used = 0
        for position, text in enumerate(inputs.texts):
            cancel.raise_if_cancelled()
            if not parameters.truncate:
                count = len(llama.tokenize(text.encode("utf-8"), add_bos=True))
                if count > limit:
                    raise InvalidInput(
                        f"text is {count} tokens, longer than the model takes at once "
                        f"({limit}, catalog option n_batch) and truncate is false",
                        param=f"$.inputs.texts[{position}]",
                    )
            vector, count = llama.embed(
                text, normalize=parameters.normalize, truncate=True, return_count=True
            )
            used += count
            vectors.append([float(x) for x in vector])
        return EmbeddingOutput(
            embeddings=vectors,
            dimensions=len(vectors[0]),
            usage=Usage(prompt_tokens=used, total_tokens=used),
        )


def _wants_logprobs(parameters: Struct) -> bool:
    return isinstance(parameters, GenerationParameters) and parameters.logprobs is not None


def _grammar(llama: Any, parameters: GenerationParameters) -> Any:
    """A llama.cpp grammar from ``grammar`` (GBNF) or ``json_schema``, else ``None``."""
    if parameters.grammar is None and parameters.json_schema is None:
        return None
    import llama_cpp
    from llama_cpp import LlamaGrammar

    if parameters.grammar is not None and parameters.json_schema is not None:
        raise InvalidInput(
            "give grammar or json_schema, not both", param="$.parameters.json_schema"
        )
    param = "$.parameters.grammar" if parameters.grammar is not None else "$.parameters.json_schema"
    try:
        if parameters.grammar is not None:
            grammar = LlamaGrammar.from_string(parameters.grammar, verbose=False)
        else:
            grammar = LlamaGrammar.from_json_schema(
                json.dumps(parameters.json_schema), verbose=False
            )
    except Exception as error:  # noqa: BLE001 - the schema converter raises several types
        raise InvalidInput(f"invalid JSON schema: {error}", param=param) from None
    # llama-cpp-python hands the text to llama.cpp unchecked, and a grammar llama.cpp
    # cannot parse becomes a NULL sampler that crashes the process: parse it here first.
    vocab = llama_cpp.llama_model_get_vocab(llama.model)
    sampler = llama_cpp.llama_sampler_init_grammar(
        vocab, grammar._grammar.encode("utf-8"), grammar._root.encode("utf-8")
    )
    if not sampler:
        raise InvalidInput(
            "invalid grammar: llama.cpp cannot parse it (GBNF, with a 'root' rule)", param=param
        )
    llama_cpp.llama_sampler_free(sampler)
    return grammar


def _chat_formatter(llama: Any, override: str | None) -> Any:
    """The model's chat template from its GGUF metadata (or the entry's override), with
    the BOS/EOS token texts the template refers to."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = override or llama.metadata.get("tokenizer.chat_template")
    if not template:
        return None
    eos, bos = llama.token_eos(), llama.token_bos()
    return Jinja2ChatFormatter(
        template=template,
        eos_token=_token_text(llama, eos),
        bos_token=_token_text(llama, bos),
    )


def _token_text(llama: Any, token: int) -> str:
    if token < 0:
        return ""
    return llama.detokenize([token], special=True).decode("utf-8", errors="replace")
