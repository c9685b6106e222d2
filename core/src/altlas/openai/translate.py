"""From OpenAI requests to the tasks' typed inputs and parameters, and back from task
outputs.

A chat completion runs the ``chat`` task, a completion ``text-generation`` (with
``raw``: OpenAI's completions continue the prompt as is), an embedding request the
``embedding`` task. A translator builds the task's input Struct from the decoded OpenAI
request directly (the inputs are never encoded and decoded again); the parameters, a
handful of scalars, are converted so that the task's own bounds apply. What a request
asks for that the service cannot do (``n > 1``, tools, ``logit_bias``...) is a 400
naming the field, never silently ignored.
"""

from __future__ import annotations

import base64
import struct
from typing import Any

import msgspec

from altlas.inference.decode import validation_failed
from altlas.openai import tools
from altlas.openai.dimensions import shorten
from altlas.openai.images import check_image, images_refused
from altlas.openai.types import (
    ChatChoice,
    ChatCompletion,
    ChatCompletionMessage,
    ChatCompletionRequest,
    ChatLogprobs,
    ChatTokenLogprob,
    Completion,
    CompletionChoice,
    CompletionLogprobs,
    CompletionRequest,
    CompletionUsage,
    CreateEmbeddingResponse,
    Embedding,
    EmbeddingRequest,
    EmbeddingUsage,
    OpenAIFinishReason,
    TopLogprobEntry,
)
from altlas_sdk import ModelSpec
from altlas_sdk.errors import BadRequest
from altlas_sdk.tasks import (
    ChatInput,
    ChatOutput,
    EmbeddingInput,
    EmbeddingOutput,
    EmbeddingParameters,
    GenerationParameters,
    TextGenerationInput,
    TextGenerationOutput,
    TokenLogprob,
    Usage,
)
from altlas_sdk.tool_calls import starts_tool_calls

# Sampling fields that pass through unchanged when set.
_SAMPLING = (
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "repeat_penalty",
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "grammar",
)


def _unsupported(param: str, message: str) -> BadRequest:
    return BadRequest(message, param=param, code="unsupported_parameter")


def _sampling(body: ChatCompletionRequest | CompletionRequest) -> dict[str, Any]:
    if body.n != 1:
        raise _unsupported("$.n", "only n = 1 is supported; send one request per completion")
    if body.logit_bias:
        raise _unsupported("$.logit_bias", "logit_bias is not supported")
    parameters = {name: getattr(body, name) for name in _SAMPLING}
    if isinstance(body.stop, str):
        parameters["stop"] = [body.stop]
    elif body.stop is not None:
        parameters["stop"] = body.stop
    return {name: value for name, value in parameters.items() if value is not None}


# --- requests ---------------------------------------------------------------------


def _generation_parameters(parameters: dict[str, Any]) -> GenerationParameters:
    try:
        return msgspec.convert(parameters, GenerationParameters)
    except msgspec.ValidationError as error:
        raise validation_failed(error, "$.parameters") from None


def chat_request(body: ChatCompletionRequest) -> tuple[ChatInput, GenerationParameters]:
    """The ``chat`` task's inputs and parameters for an OpenAI chat completion request
    (tools: :mod:`altlas.openai.tools`)."""
    if body.functions or body.function_call:
        param = "$.functions" if body.functions else "$.function_call"
        raise _unsupported(param, "functions are deprecated and not supported; send tools")
    parameters = _sampling(body)
    max_tokens = body.max_completion_tokens or body.max_tokens
    if max_tokens is not None:
        parameters["max_tokens"] = max_tokens
    if body.top_logprobs is not None and not body.logprobs:
        raise BadRequest("top_logprobs needs logprobs: true", param="$.top_logprobs")
    if body.logprobs:
        parameters["logprobs"] = body.top_logprobs or 0
    format_ = body.response_format
    if format_ is not None and format_.type == "json_object":
        parameters["json_schema"] = {"type": "object"}
    elif format_ is not None and format_.type == "json_schema":
        if format_.json_schema is None:
            raise BadRequest(
                "response_format of type json_schema needs json_schema",
                param="$.response_format.json_schema",
            )
        parameters["json_schema"] = format_.json_schema.schema or {"type": "object"}
    call_format = tools.call_format(body)
    if call_format is not None:
        parameters["tool_calls"] = msgspec.to_builtins(call_format)
    texts = [
        _text_of(message.content, index, body.model) for index, message in enumerate(body.messages)
    ]
    messages = tools.conversation(body, texts, described=call_format is not None)
    return ChatInput(messages=messages), _generation_parameters(parameters)


def _text_of(content: Any, index: int, model: str) -> str | None:
    if content is None or isinstance(content, str):
        return content
    texts, images = [], []
    for position, part in enumerate(content):
        param = f"$.messages[{index}].content[{position}]"
        if part.type == "image_url":
            check_image(part.image_url, f"{param}.image_url")
            images.append(param)
        elif part.type != "text" or part.text is None:
            raise _unsupported(
                param, f"content parts of type '{part.type}' are not supported; send text"
            )
        else:
            texts.append(part.text)
    if images:
        raise images_refused(model, images[0])
    return "\n".join(texts)


def completion_request(
    body: CompletionRequest,
) -> tuple[TextGenerationInput, GenerationParameters]:
    """The ``text-generation`` task's inputs and parameters for an OpenAI (legacy)
    completion request."""
    if body.suffix is not None:
        raise _unsupported("$.suffix", "suffix (fill-in-the-middle) is not supported")
    if body.best_of not in (None, 1):
        raise _unsupported("$.best_of", "only best_of = 1 is supported")
    prompt = body.prompt
    if isinstance(prompt, list):
        if len(prompt) != 1 or not isinstance(prompt[0], str):
            raise _unsupported(
                "$.prompt",
                "prompt must be a string or a list of one string; token ids "
                "and several prompts are not supported",
            )
        prompt = prompt[0]
    parameters = _sampling(body)
    parameters["raw"] = True
    if body.max_tokens is not None:
        parameters["max_tokens"] = body.max_tokens
    if body.logprobs is not None:
        parameters["logprobs"] = body.logprobs
    return TextGenerationInput(prompt=prompt), _generation_parameters(parameters)


def embedding_request(body: EmbeddingRequest) -> tuple[EmbeddingInput, EmbeddingParameters]:
    """The ``embedding`` task's inputs and parameters for an OpenAI embedding request."""
    texts = [body.input] if isinstance(body.input, str) else body.input
    if not texts:
        raise BadRequest("input must not be empty", param="$.input")
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise _unsupported(
                f"$.input[{index}]", "input must be text; token-id input is not supported"
            )
    return EmbeddingInput(texts=texts), EmbeddingParameters()


# --- responses --------------------------------------------------------------------


def finish_reason(reason: str | None) -> OpenAIFinishReason:
    """OpenAI's finish reason for a task's: ``length``, else ``stop``."""
    return "length" if reason == "length" else "stop"


def reply(text: str, with_tools: bool) -> ChatCompletionMessage:
    """The assistant's message: the text, or the tool calls it holds (``with_tools``:
    the request offered tools, so the text may be calls)."""
    if with_tools and starts_tool_calls(text):
        calls = tools.read_calls(text)
        if calls:
            return ChatCompletionMessage(
                role="assistant", content=None, refusal=None, tool_calls=tools.tool_calls(calls)
            )
    return ChatCompletionMessage(role="assistant", content=text, refusal=None)


def usage(counts: Usage | None) -> CompletionUsage:
    """OpenAI's usage object."""
    counts = counts or Usage()
    return CompletionUsage(
        prompt_tokens=counts.prompt_tokens,
        completion_tokens=counts.completion_tokens,
        total_tokens=counts.total_tokens,
    )


def chat_logprobs(logprobs: list[TokenLogprob] | None) -> ChatLogprobs | None:
    """OpenAI's chat ``logprobs`` object."""
    if logprobs is None:
        return None
    return ChatLogprobs(
        content=[
            ChatTokenLogprob(
                token=item.token,
                logprob=item.logprob,
                bytes=list(item.token.encode("utf-8")),
                top_logprobs=[
                    TopLogprobEntry(
                        token=top.token, logprob=top.logprob, bytes=list(top.token.encode("utf-8"))
                    )
                    for top in item.top_logprobs
                ],
            )
            for item in logprobs
        ]
    )


def completion_logprobs(
    logprobs: list[TokenLogprob] | None, offset: int
) -> CompletionLogprobs | None:
    """OpenAI's completion ``logprobs`` object; ``offset`` is where the generated text
    starts in the returned text (the prompt's length when echoed)."""
    if logprobs is None:
        return None
    offsets = []
    for item in logprobs:
        offsets.append(offset)
        offset += len(item.token)
    return CompletionLogprobs(
        tokens=[item.token for item in logprobs],
        token_logprobs=[item.logprob for item in logprobs],
        top_logprobs=[{top.token: top.logprob for top in item.top_logprobs} for item in logprobs],
        text_offset=offsets,
    )


def chat_completion(
    output: ChatOutput, *, id: str, created: int, model: str, with_tools: bool = False
) -> ChatCompletion:
    """The chat completion object for a ``chat`` output (``with_tools``: see
    :func:`reply`)."""
    message = reply(output.message.content, with_tools)
    return ChatCompletion(
        id=id,
        created=created,
        model=model,
        choices=[
            ChatChoice(
                index=0,
                message=message,
                finish_reason="tool_calls"
                if message.tool_calls
                else finish_reason(output.finish_reason),
                logprobs=chat_logprobs(output.logprobs),
            )
        ],
        usage=usage(output.usage),
    )


def completion(
    output: TextGenerationOutput, *, id: str, created: int, model: str, echo: str | None
) -> Completion:
    """The completion object for a ``text-generation`` output (``echo``: the prompt to
    put before the text)."""
    prefix = echo or ""
    return Completion(
        object="text_completion",
        id=id,
        created=created,
        model=model,
        choices=[
            CompletionChoice(
                index=0,
                text=prefix + output.text,
                finish_reason=finish_reason(output.finish_reason),
                logprobs=completion_logprobs(output.logprobs, len(prefix)),
            )
        ],
        usage=usage(output.usage),
    )


def embeddings(
    output: EmbeddingOutput, body: EmbeddingRequest, *, spec: ModelSpec
) -> CreateEmbeddingResponse:
    """The embedding list for an ``embedding`` output, as floats or base64, cut to
    ``dimensions`` where the model allows it (:func:`~altlas.openai.dimensions.shorten`)."""
    vectors = shorten(output.embeddings, body.dimensions, spec, param="$.dimensions")
    data = [
        Embedding(
            index=index,
            embedding=_base64(vector) if body.encoding_format == "base64" else vector,
        )
        for index, vector in enumerate(vectors)
    ]
    counts = output.usage or Usage()
    return CreateEmbeddingResponse(
        data=data,
        model=spec.id,
        usage=EmbeddingUsage(prompt_tokens=counts.prompt_tokens, total_tokens=counts.total_tokens),
    )


def _base64(vector: list[float]) -> str:
    # OpenAI's base64 encoding: the little-endian float32 bytes of the vector.
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
