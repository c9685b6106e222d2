"""A loaded GGUF model: text generation, chat (the file's own chat template) and
embeddings."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import msgspec

from altlas_llama_cpp.engine import BatchEngine
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
from altlas_sdk.tool_calls import tool_call_grammar

if TYPE_CHECKING:
    from msgspec import Struct


class LlamaCppModel(LoadedModel):
    """A batching engine for generation (its context holds one sequence per concurrent
    call, see :mod:`altlas_llama_cpp.engine`) and, when the entry serves embeddings, a
    ``llama_cpp.Llama`` context created with ``embedding=True``.
    """

    def __init__(
        self,
        *,
        engine: BatchEngine | None,
        embedder: Any | None,
        chat_template: str | None,
        templated_prompts: bool,
        device: Device,
        memory: MemoryEstimate,
        version: str,
    ) -> None:
        self.engine = engine
        self.embedder = embedder
        self.device = device
        self.version = version
        self._memory = memory
        # A Jinja template, no llama.cpp state: the callers' threads share it.
        self._chat = _chat_formatter(engine.llama, chat_template) if engine else None
        self._templated_prompts = templated_prompts
        # The embedding context is not thread-safe; the core sends max_concurrency
        # calls at once (for the generation sequences), so embeddings take turns.
        self._embedding = threading.Lock()

    def memory(self) -> MemoryEstimate | None:
        # RSS growth misses what llama.cpp maps lazily or puts on the GPU: report the
        # split computed from the file and the offloaded layers.
        return self._memory

    def counters(self) -> dict[str, float]:
        """The engine's counts: sequences, decode steps, prompt cache hits and tokens
        reused, tokens decoded beside other sequences."""
        if self.engine is None:
            return {}
        stats = dataclasses.asdict(self.engine.stats)
        stats.pop("max_sequences_together")  # a high-water mark, not a count
        return {name: float(count) for name, count in stats.items()}

    # --- the LoadedModel interface ------------------------------------------------

    def infer(
        self, task: str, inputs: Struct, parameters: Struct, cancel: CancellationToken
    ) -> Struct:
        if task == EMBEDDING:
            assert isinstance(inputs, EmbeddingInput)
            assert isinstance(parameters, EmbeddingParameters)
            with self._embedding:
                return self._embed(inputs, parameters, cancel)
        cancel.raise_if_cancelled()
        generation = self._start(self._engine(), task, inputs, parameters, cancel)
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
        generation = self._start(self._engine(), task, inputs, parameters, cancel)
        # Closed (its sequence freed) even when the consumer stops early.
        with contextlib.closing(generation.pieces()) as pieces:
            for piece in pieces:
                yield self._chunk(task, piece, wants)
        yield self._output(task, generation, "", None)

    def unload(self) -> None:
        if self.engine is not None:
            self.engine.close()
            self.engine.llama.close()
        if self.embedder is not None:
            self.embedder.close()
        self.engine, self.embedder = None, None

    def _engine(self) -> BatchEngine:
        if self.engine is None:
            raise InvalidInput("this model serves embeddings only; ask for 'embedding'")
        return self.engine

    # --- generation -----------------------------------------------------------------

    def _start(
        self,
        engine: BatchEngine,
        task: str,
        inputs: Struct,
        parameters: Struct,
        cancel: CancellationToken,
    ) -> Generation:
        assert isinstance(parameters, GenerationParameters)
        llama = engine.llama
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
            engine,
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
        # Every field a message sets, under its OpenAI name, for templates that read
        # more than role and content.
        messages = [_set_fields(message) for message in inputs.messages]
        tools = getattr(inputs, "tools", None)
        extra = {"tools": msgspec.to_builtins(tools)} if tools else {}
        try:
            formatted = self._chat(messages=messages, **extra)
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


def _set_fields(message: Struct) -> dict[str, Any]:
    return {k: v for k, v in msgspec.to_builtins(message).items() if v is not None}


def _wants_logprobs(parameters: Struct) -> bool:
    return isinstance(parameters, GenerationParameters) and parameters.logprobs is not None


def _grammar(llama: Any, parameters: GenerationParameters) -> Any:
    """A llama.cpp grammar from ``grammar`` (GBNF), ``json_schema`` or ``tool_calls``,
    else ``None``."""
    if parameters.tool_calls is not None:
        parameters = _tool_call_grammar(parameters)
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


def _tool_call_grammar(parameters: GenerationParameters) -> GenerationParameters:
    """``parameters`` with the GBNF of their ``tool_calls`` as ``grammar``."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    if parameters.grammar is not None or parameters.json_schema is not None:
        raise InvalidInput(
            "give one of grammar, json_schema and tool_calls", param="$.parameters.tool_calls"
        )
    assert parameters.tool_calls is not None
    try:
        grammar = tool_call_grammar(
            parameters.tool_calls, lambda schema: json_schema_to_gbnf(json.dumps(schema))
        )
    except Exception as error:  # noqa: BLE001 - the schema converter raises several types
        raise InvalidInput(
            f"invalid JSON schema: {error}", param="$.parameters.tool_calls.call_schema"
        ) from None
    return msgspec.structs.replace(parameters, grammar=grammar, tool_calls=None)


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
