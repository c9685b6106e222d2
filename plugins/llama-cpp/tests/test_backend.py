"""The llama-cpp backend on a tiny random-weight GGUF: loading, options, memory
estimates, sampling parameters, stop sequences, streaming, cancellation, grammars,
log-probabilities, chat templates and embeddings. Output quality is tested on the real
SmolLM2 in test_openai_api.py."""

from __future__ import annotations

import json
import threading

import msgspec
import pytest

from altlas_llama_cpp.backend import LlamaCppBackend
from altlas_llama_cpp.generation import _first_stop, _held_back
from altlas_llama_cpp.gguf_info import read_gguf_info
from altlas_llama_cpp.options import estimate, gpu_layers, parse_options
from altlas_sdk import CancellationToken, DevicePolicy, ModelFiles, ModelSpec
from altlas_sdk.errors import BadRequest, Conflict, InvalidInput, InvalidModelFile
from altlas_sdk.tasks import (
    CHAT,
    EMBEDDING,
    TEXT_GENERATION,
    ChatInput,
    ChatMessage,
    ChatOutput,
    EmbeddingInput,
    EmbeddingParameters,
    GenerationParameters,
    TextGenerationInput,
    TextGenerationOutput,
)

CPU = DevicePolicy(use_gpu=False)


def spec(tasks=(TEXT_GENERATION, CHAT), **options) -> ModelSpec:
    return ModelSpec(
        id="tiny", backend="llama-cpp", tasks=list(tasks), source="tiny.gguf", options=options
    )


@pytest.fixture(scope="module")
def model(tiny_gguf):
    loaded = LlamaCppBackend().load(spec(n_ctx=128, n_threads=1), ModelFiles(tiny_gguf), CPU)
    yield loaded
    loaded.unload()


def generate(model, prompt="the cat sat", **parameters) -> TextGenerationOutput:
    parameters = {"temperature": 0, "raw": True, **parameters}
    output = model.infer(
        TEXT_GENERATION,
        TextGenerationInput(prompt=prompt),
        GenerationParameters(**parameters),
        CancellationToken(),
    )
    assert isinstance(output, TextGenerationOutput)
    return output


def chat(model, content="hello", **parameters) -> ChatOutput:
    output = model.infer(
        CHAT,
        ChatInput(messages=[ChatMessage(role="user", content=content)]),
        GenerationParameters(**{"temperature": 0, **parameters}),
        CancellationToken(),
    )
    assert isinstance(output, ChatOutput)
    return output


# --- metadata, options and memory -----------------------------------------------------


def test_metadata_is_read_without_llama_cpp(tiny_gguf):
    info = read_gguf_info(tiny_gguf)
    assert (info.architecture, info.n_layer, info.n_embd) == ("llama", 2, 64)
    assert (info.n_head, info.n_head_kv, info.key_length) == (4, 2, 16)
    assert info.n_vocab == 300 and info.context_length == 256
    assert "<|im_start|>" in info.chat_template


def test_a_file_that_is_not_gguf_is_rejected(tmp_path):
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"not a model at all")
    with pytest.raises(InvalidModelFile, match="not a readable GGUF"):
        read_gguf_info(bogus)
    with pytest.raises(InvalidModelFile):
        LlamaCppBackend().load(spec(), ModelFiles(bogus), CPU)


def test_memory_estimate_grows_with_context_and_sequences(tiny_gguf):
    backend = LlamaCppBackend()
    files = ModelFiles(tiny_gguf)
    small = backend.estimate_memory(spec(n_ctx=64), files).ram_bytes
    large = backend.estimate_memory(spec(n_ctx=256), files).ram_bytes
    assert tiny_gguf.stat().st_size < small < large
    # KV cache: 2 layers x 192 more tokens x 2 KV heads x (16 + 16) x 2 bytes, for
    # each of the four sequences the backend decodes together by default.
    assert large - small == 4 * (2 * 192 * 2 * 32 * 2)
    one = msgspec.structs.replace(spec(n_ctx=64), max_concurrency=1)
    two = msgspec.structs.replace(spec(n_ctx=64), max_concurrency=2)
    sizes = [backend.estimate_memory(s, files).ram_bytes for s in (one, two)]
    # One more sequence is one more KV cache of 64 tokens, not another context.
    assert sizes[1] - sizes[0] == 2 * 64 * 2 * 32 * 2


def test_unknown_option_is_a_conflict_naming_it():
    with pytest.raises(Conflict) as caught:
        parse_options("tiny", {"n_ctxx": 10})
    assert caught.value.param == "$.options.n_ctxx" and "n_ctxx" in caught.value.message
    with pytest.raises(Conflict):
        parse_options("tiny", {"n_ctx": "big"})


def test_gpu_layers_follow_use_gpu_and_the_memory_limit(tiny_gguf):
    info = read_gguf_info(tiny_gguf)
    size = tiny_gguf.stat().st_size
    options = parse_options("tiny", {})
    gpu = DevicePolicy(use_gpu=True)
    assert gpu_layers(options, gpu, info, size, can_offload=True) == 3  # 2 layers + output
    assert gpu_layers(options, CPU, info, size, can_offload=True) == 0
    assert gpu_layers(options, gpu, info, size, can_offload=False) == 0
    one = parse_options("tiny", {"n_gpu_layers": 1})
    assert gpu_layers(one, gpu, info, size, can_offload=True) == 1
    # A limit smaller than one layer's share offloads nothing.
    tiny_limit = DevicePolicy(use_gpu=True, gpu_memory_limit_mb=0)
    assert gpu_layers(options, tiny_limit, info, size, can_offload=True) == 0
    assert estimate(info, size, options).gpu_bytes == 0


def test_loaded_model_reports_cpu_and_its_memory(model, tiny_gguf):
    assert model.device.kind == "cpu"
    memory = model.memory()
    assert memory.gpu_bytes == 0 and memory.ram_bytes > tiny_gguf.stat().st_size


# --- generation -------------------------------------------------------------------


def test_greedy_generation_is_deterministic_and_counts_tokens(model):
    first = generate(model, max_tokens=8)
    assert first.text and first == generate(model, max_tokens=8)
    assert first.finish_reason == "length"
    assert first.usage.completion_tokens == 8
    prompt_tokens = len(model.engine.llama.tokenize(b"the cat sat", add_bos=True, special=True))
    assert first.usage.prompt_tokens == prompt_tokens
    assert first.usage.total_tokens == prompt_tokens + 8


def test_seed_repeats_sampling(model):
    one = generate(model, temperature=1.5, seed=3, max_tokens=12)
    assert one == generate(model, temperature=1.5, seed=3, max_tokens=12)
    others = {generate(model, temperature=1.5, seed=s, max_tokens=12).text for s in range(4, 8)}
    assert len(others) > 1


def test_stop_sequence_cuts_the_text_before_it(model):
    full = generate(model, max_tokens=20).text
    stop = full[len(full) // 2 : len(full) // 2 + 2]
    assert stop.strip(), full
    cut = generate(model, max_tokens=20, stop=[stop])
    assert cut.finish_reason == "stop"
    assert cut.text == full[: full.index(stop)]


def test_stream_matches_infer_and_holds_back_stop_prefixes(model):
    full = generate(model, max_tokens=20)
    stop = full.text[len(full.text) // 2 : len(full.text) // 2 + 2]
    parameters = GenerationParameters(temperature=0, max_tokens=20, raw=True, stop=[stop])
    chunks = list(
        model.stream(
            TEXT_GENERATION,
            TextGenerationInput(prompt="the cat sat"),
            parameters,
            CancellationToken(),
        )
    )
    assert all(stop not in chunk.text for chunk in chunks)
    assert "".join(chunk.text for chunk in chunks) == full.text[: full.text.index(stop)]
    last = chunks[-1]
    assert last.finish_reason == "stop" and last.usage.completion_tokens > 0
    assert all(chunk.finish_reason is None for chunk in chunks[:-1])


def test_generation_without_max_tokens_stops_at_the_context(model):
    output = generate(model, prompt="the cat " * 8)
    assert output.finish_reason == "length"
    assert output.usage.total_tokens == 128  # n_ctx


def test_max_tokens_over_the_context_is_refused_as_openai_does(model):
    with pytest.raises(BadRequest) as caught:
        generate(model, prompt="the cat " * 8, max_tokens=1000)
    assert caught.value.code == "context_length_exceeded"
    assert caught.value.param == "$.parameters.max_tokens"
    assert "maximum context length is 128 tokens" in caught.value.message


def test_prompt_longer_than_the_context_is_invalid_input(model):
    with pytest.raises(InvalidInput, match="context"):
        generate(model, prompt="the cat sat on the mat " * 40)


def test_empty_prompt_is_invalid_input(model):
    with pytest.raises(InvalidInput) as caught:
        generate(model, prompt="")
    assert caught.value.param == "$.inputs.prompt"


def test_cancelled_token_stops_generation(model):
    cancel = CancellationToken()
    cancel.cancel()
    with pytest.raises(Exception) as caught:
        model.infer(
            TEXT_GENERATION,
            TextGenerationInput(prompt="the cat"),
            GenerationParameters(raw=True),
            cancel,
        )
    assert type(caught.value).__name__ == "Cancelled"
    # Cancelled while streaming: the stream ends, marked as cancelled.
    cancel = CancellationToken()
    chunks = []
    stream = model.stream(
        TEXT_GENERATION,
        TextGenerationInput(prompt="the cat"),
        GenerationParameters(raw=True, max_tokens=100, temperature=0),
        cancel,
    )
    for chunk in stream:
        chunks.append(chunk)
        if len(chunks) == 3:
            cancel.cancel()
    assert chunks[-1].finish_reason == "cancelled"
    assert chunks[-1].usage.completion_tokens < 100


# --- chat, grammars, logprobs -------------------------------------------------------


def test_chat_uses_the_files_template(model):
    reply = chat(model, "hello", max_tokens=10)
    templated = "<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n"
    raw = generate(model, prompt=templated, max_tokens=10)
    assert reply.message.content == raw.text and reply.message.role == "assistant"
    assert reply.usage.prompt_tokens == raw.usage.prompt_tokens


def test_prompt_template_option_sends_prompts_through_the_chat_template(tiny_gguf):
    loaded = LlamaCppBackend().load(
        spec(n_ctx=128, prompt_template="chat"), ModelFiles(tiny_gguf), CPU
    )
    try:
        templated = generate(loaded, prompt="hello", max_tokens=6, raw=None)
        assert templated.text == chat(loaded, "hello", max_tokens=6).message.content
        raw = generate(loaded, prompt="hello", max_tokens=6, raw=True)
        assert raw.usage.prompt_tokens < templated.usage.prompt_tokens
    finally:
        loaded.unload()


def test_chat_without_a_template_is_invalid_input(tiny_gguf_without_template):
    loaded = LlamaCppBackend().load(spec(n_ctx=64), ModelFiles(tiny_gguf_without_template), CPU)
    try:
        with pytest.raises(InvalidInput, match="chat template"):
            chat(loaded, "hello")
        assert generate(loaded, max_tokens=2).usage.completion_tokens == 2
    finally:
        loaded.unload()


def test_chat_template_option_replaces_the_files(tiny_gguf_without_template):
    template = "{% for m in messages %}{{ m['content'] }}{% endfor %} =>"
    loaded = LlamaCppBackend().load(
        spec(n_ctx=64, chat_template=template), ModelFiles(tiny_gguf_without_template), CPU
    )
    try:
        reply = chat(loaded, "the cat", max_tokens=4)
        assert reply.message.content == generate(loaded, "the cat =>", max_tokens=4).text
    finally:
        loaded.unload()


def test_grammar_constrains_the_output(model):
    for seed in range(3):
        output = generate(model, grammar='root ::= "yes" | "no"', temperature=1.0, seed=seed)
        assert output.text in {"yes", "no"} and output.finish_reason == "stop"


def test_json_schema_constrains_the_output(model):
    schema = {
        "type": "object",
        "properties": {"ok": {"type": "boolean"}},
        "required": ["ok"],
        "additionalProperties": False,
    }
    output = generate(model, json_schema=schema, max_tokens=40)
    assert isinstance(json.loads(output.text)["ok"], bool)


@pytest.mark.parametrize("grammar", ['root ::= ("a"', 'start ::= "a"', "root ::= undefined"])
def test_invalid_grammar_is_invalid_input_not_a_crash(model, grammar):
    with pytest.raises(InvalidInput) as caught:
        generate(model, grammar=grammar)
    assert caught.value.param == "$.parameters.grammar"
    assert generate(model, max_tokens=2).usage.completion_tokens == 2


def test_logprobs_of_each_token(model):
    output = generate(model, max_tokens=5, logprobs=3)
    assert len(output.logprobs) == 5
    assert "".join(item.token for item in output.logprobs) == output.text
    for item in output.logprobs:
        assert item.logprob <= 0 and len(item.top_logprobs) == 3
        values = [top.logprob for top in item.top_logprobs]
        assert values == sorted(values, reverse=True)
        assert item.top_logprobs[0].token == item.token  # greedy
    assert generate(model, max_tokens=5).logprobs is None


def test_stop_helpers():
    assert _first_stop("abc<|end|>def", ["<|end|>", "d"], 0) == 3
    assert _first_stop("abc", ["x"], 0) is None
    assert _held_back("hello <|e", ["<|end|>"], 0) == 3
    assert _held_back("hello", ["<|end|>"], 0) == 0
    assert _held_back("hello <", ["<|end|>"], 7) == 0  # already sent


# --- embeddings -------------------------------------------------------------------


def test_embeddings_from_an_embedding_entry(tiny_gguf):
    loaded = LlamaCppBackend().load(spec([EMBEDDING], n_ctx=64), ModelFiles(tiny_gguf), CPU)
    try:
        output = loaded.infer(
            EMBEDDING,
            EmbeddingInput(texts=["the cat", "the dog", "the cat"]),
            EmbeddingParameters(),
            CancellationToken(),
        )
        cat, dog, again = output.embeddings
        assert output.dimensions == 64 and len(cat) == 64
        assert sum(x * x for x in cat) == pytest.approx(1.0, abs=1e-4)
        assert cat == pytest.approx(again) and cat != pytest.approx(dog)
        assert output.usage.prompt_tokens > 3
        with pytest.raises(InvalidInput, match="truncate"):
            loaded.infer(
                EMBEDDING,
                EmbeddingInput(texts=["the cat " * 100]),
                EmbeddingParameters(truncate=False),
                CancellationToken(),
            )
        with pytest.raises(InvalidInput, match="embeddings only"):
            chat(loaded, "hello")
    finally:
        loaded.unload()


def test_generation_model_refuses_embeddings(model):
    with pytest.raises(InvalidInput, match="embedding"):
        model.infer(
            EMBEDDING, EmbeddingInput(texts=["x"]), EmbeddingParameters(), CancellationToken()
        )


def test_two_sequences_serve_two_calls_at_once(tiny_gguf):
    two = msgspec.structs.replace(spec(n_ctx=64), max_concurrency=2)
    loaded = LlamaCppBackend().load(two, ModelFiles(tiny_gguf), CPU)
    try:
        assert loaded.engine.parallel == 2
        results = []

        def run() -> None:
            results.append(generate(loaded, max_tokens=30).text)

        threads = [threading.Thread(target=run) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(results) == 4 and len(set(results)) == 1
    finally:
        loaded.unload()
