"""OpenAI's request and response objects, as msgspec Structs.

Field names, defaults and shapes follow OpenAI's API reference for chat completions,
completions, embeddings and models, so that OpenAI's own clients work unchanged.
Requests forbid unknown fields (a typo is an error naming the field); the fields
OpenAI defines that the service accepts but does not act on (``user``, ``store``,
``metadata``...) are declared so that clients sending them are not refused. Fields
after the ``# llama.cpp sampling`` comments are extensions that OpenAI does not define.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import Meta, Struct

Penalty = Annotated[float, Meta(ge=-2, le=2)]
Temperature = Annotated[float, Meta(ge=0, le=2)]
Probability = Annotated[float, Meta(ge=0, le=1)]
PositiveInt = Annotated[int, Meta(ge=1)]

#: Why generation ended, in OpenAI's words.
OpenAIFinishReason = Literal["stop", "length", "tool_calls"]


# --- shared -----------------------------------------------------------------------


class StreamOptions(Struct, kw_only=True, forbid_unknown_fields=True):
    """``include_usage``: end the stream with a chunk that carries the token counts."""

    include_usage: bool = False
    include_obfuscation: bool | None = None


class CompletionUsage(Struct, kw_only=True):
    """Token counts of a completion."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class TopLogprobEntry(Struct, kw_only=True):
    """A candidate token at one position of a chat completion."""

    token: str
    logprob: float
    bytes: list[int] | None


class ChatTokenLogprob(Struct, kw_only=True):
    """A generated token of a chat completion, with its candidates."""

    token: str
    logprob: float
    bytes: list[int] | None
    top_logprobs: list[TopLogprobEntry]


class ChatLogprobs(Struct, kw_only=True):
    """``choices[].logprobs`` of a chat completion."""

    content: list[ChatTokenLogprob] | None
    refusal: list[ChatTokenLogprob] | None = None


class CompletionLogprobs(Struct, kw_only=True):
    """``choices[].logprobs`` of a (legacy) completion."""

    tokens: list[str]
    token_logprobs: list[float | None]
    top_logprobs: list[dict[str, float] | None]
    text_offset: list[int]


# --- models -----------------------------------------------------------------------


class Model(Struct, kw_only=True):
    """``GET /v1/models/{model}``."""

    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "altlas"


class ModelList(Struct, kw_only=True):
    """``GET /v1/models``."""

    data: list[Model]
    object: Literal["list"] = "list"


# --- chat completions -------------------------------------------------------------


class ImageURL(Struct, kw_only=True, forbid_unknown_fields=True):
    """``image_url`` of a content part: a ``data:`` URL, or a file under MODEL_DIR."""

    url: str
    detail: Literal["auto", "low", "high"] | None = None


class ContentPart(Struct, kw_only=True, forbid_unknown_fields=True):
    """One part of a message's content: ``text``, or an image for models that see."""

    type: str
    text: str | None = None
    image_url: ImageURL | None = None
    input_audio: Any = None
    file: Any = None


class FunctionCall(Struct, kw_only=True, forbid_unknown_fields=True):
    """A function's name and its arguments, a JSON object as a string."""

    name: str
    arguments: str


class MessageToolCall(Struct, kw_only=True, forbid_unknown_fields=True):
    """A tool call the assistant made (in a request's history and in a reply)."""

    id: str
    function: FunctionCall
    type: Literal["function"] = "function"


class FunctionDefinition(Struct, kw_only=True, forbid_unknown_fields=True):
    """A function the model may call; ``parameters``: the JSON Schema of its arguments."""

    name: Annotated[str, Meta(pattern="^[a-zA-Z0-9_-]{1,64}$")]
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ChatCompletionTool(Struct, kw_only=True, forbid_unknown_fields=True):
    """An entry of ``tools``."""

    type: Literal["function"]
    function: FunctionDefinition


class NamedFunction(Struct, kw_only=True, forbid_unknown_fields=True):
    """``tool_choice.function``."""

    name: str


class NamedToolChoice(Struct, kw_only=True, forbid_unknown_fields=True):
    """``tool_choice`` naming the one function the model must call."""

    type: Literal["function"]
    function: NamedFunction


class ChatCompletionMessageParam(Struct, kw_only=True, forbid_unknown_fields=True):
    """A message of the request's conversation."""

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_call_id: str | None = None
    tool_calls: list[MessageToolCall] | None = None
    refusal: str | None = None


class JSONSchemaFormat(Struct, kw_only=True, forbid_unknown_fields=True):
    """``response_format.json_schema``."""

    name: str
    schema: dict[str, Any] | None = None
    description: str | None = None
    strict: bool | None = None


class ResponseFormat(Struct, kw_only=True, forbid_unknown_fields=True):
    """``response_format``: plain text, any JSON object, or JSON following a schema."""

    type: Literal["text", "json_object", "json_schema"]
    json_schema: JSONSchemaFormat | None = None


class ChatCompletionRequest(Struct, kw_only=True, forbid_unknown_fields=True):
    """``POST /v1/chat/completions``."""

    model: str
    messages: Annotated[list[ChatCompletionMessageParam], Meta(min_length=1)]
    max_tokens: PositiveInt | None = None
    max_completion_tokens: PositiveInt | None = None
    temperature: Temperature | None = None
    top_p: Probability | None = None
    n: PositiveInt = 1
    stream: bool = False
    stream_options: StreamOptions | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    presence_penalty: Penalty | None = None
    frequency_penalty: Penalty | None = None
    logprobs: bool | None = None
    top_logprobs: Annotated[int, Meta(ge=0, le=20)] | None = None
    response_format: ResponseFormat | None = None
    logit_bias: dict[str, float] | None = None
    tools: list[ChatCompletionTool] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    functions: list[Any] | None = None
    function_call: Any = None
    user: str | None = None
    store: bool | None = None
    metadata: dict[str, str] | None = None
    service_tier: str | None = None
    reasoning_effort: str | None = None
    # llama.cpp sampling
    top_k: Annotated[int, Meta(ge=0)] | None = None
    min_p: Probability | None = None
    repeat_penalty: Annotated[float, Meta(ge=0)] | None = None
    grammar: str | None = None


class ChatCompletionMessage(Struct, kw_only=True, omit_defaults=True):
    """The assistant's reply in a chat completion: text, or (``content`` null) tool
    calls."""

    role: Literal["assistant"]
    content: str | None
    refusal: str | None
    tool_calls: list[MessageToolCall] | None = None


class ChatChoice(Struct, kw_only=True):
    """``choices[]`` of a chat completion."""

    index: int
    message: ChatCompletionMessage
    finish_reason: OpenAIFinishReason
    logprobs: ChatLogprobs | None = None


class ChatCompletion(Struct, kw_only=True):
    """The answer to a chat completion request."""

    id: str
    created: int
    model: str
    choices: list[ChatChoice]
    usage: CompletionUsage | None
    object: Literal["chat.completion"] = "chat.completion"


class FunctionCallDelta(Struct, kw_only=True, omit_defaults=True):
    """The function part of a streamed tool call."""

    name: str | None = None
    arguments: str | None = None


class ToolCallDelta(Struct, kw_only=True, omit_defaults=True):
    """A streamed tool call: ``index`` says which; this service sends each call whole,
    in one delta with its ``id``, name and all of its arguments."""

    index: int
    id: str | None = None
    type: Literal["function"] | None = None
    function: FunctionCallDelta | None = None


class ChoiceDelta(Struct, kw_only=True, omit_defaults=True):
    """What a stream chunk adds to the reply (empty in the last chunk)."""

    role: Literal["assistant"] | None = None
    content: str | None = None
    tool_calls: list[ToolCallDelta] | None = None


class ChunkChoice(Struct, kw_only=True):
    """``choices[]`` of a chat completion chunk."""

    index: int
    delta: ChoiceDelta
    finish_reason: OpenAIFinishReason | None = None
    logprobs: ChatLogprobs | None = None


class ChatCompletionChunk(Struct, kw_only=True):
    """One server-sent event of a streamed chat completion."""

    id: str
    created: int
    model: str
    choices: list[ChunkChoice]
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    usage: CompletionUsage | None = None


# --- completions ------------------------------------------------------------------


class CompletionRequest(Struct, kw_only=True, forbid_unknown_fields=True):
    """``POST /v1/completions``. OpenAI's default ``max_tokens`` here is 16."""

    model: str
    prompt: str | list[Any]
    max_tokens: PositiveInt | None = 16
    temperature: Temperature | None = None
    top_p: Probability | None = None
    n: PositiveInt = 1
    best_of: PositiveInt | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    logprobs: Annotated[int, Meta(ge=0, le=20)] | None = None
    echo: bool = False
    stop: str | list[str] | None = None
    seed: int | None = None
    presence_penalty: Penalty | None = None
    frequency_penalty: Penalty | None = None
    logit_bias: dict[str, float] | None = None
    suffix: str | None = None
    user: str | None = None
    # llama.cpp sampling
    top_k: Annotated[int, Meta(ge=0)] | None = None
    min_p: Probability | None = None
    repeat_penalty: Annotated[float, Meta(ge=0)] | None = None
    grammar: str | None = None


class CompletionChoice(Struct, kw_only=True):
    """``choices[]`` of a completion (and of its stream chunks)."""

    index: int
    text: str
    finish_reason: OpenAIFinishReason | None
    logprobs: CompletionLogprobs | None = None


class Completion(Struct, kw_only=True, omit_defaults=True):
    """The answer to a completion request, and each chunk of a streamed one (``usage``
    left out where there is none: OpenAI's schema has no null for it)."""

    id: str
    created: int
    model: str
    choices: list[CompletionChoice]
    object: Literal["text_completion"]
    usage: CompletionUsage | None = None


# --- embeddings -------------------------------------------------------------------


class EmbeddingRequest(Struct, kw_only=True, forbid_unknown_fields=True):
    """``POST /v1/embeddings``. ``input`` is a string or a list of strings."""

    model: str
    input: str | list[Any]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: PositiveInt | None = None
    user: str | None = None


class Embedding(Struct, kw_only=True):
    """One vector: a list of floats, or base64 of little-endian float32 bytes."""

    index: int
    embedding: list[float] | str
    object: Literal["embedding"] = "embedding"


class EmbeddingUsage(Struct, kw_only=True):
    """Token counts of an embedding request."""

    prompt_tokens: int
    total_tokens: int


class CreateEmbeddingResponse(Struct, kw_only=True):
    """The answer to an embedding request."""

    data: list[Embedding]
    model: str
    usage: EmbeddingUsage
    object: Literal["list"] = "list"
