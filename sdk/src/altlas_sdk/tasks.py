"""Task ids and the typed input, parameters and output of each task.

A *task* is what a model does (``embedding``, ``chat``...). Each task id has exactly one
input Struct, one parameters Struct and one output Struct; a request's ``inputs`` and
``parameters`` are decoded into them before a backend sees them, and the backend's
result is encoded from the output Struct. A :class:`TaskSpec` binds the three together;
the core registers the built-in ones and a plugin adds a task id only by registering a
``TaskSpec`` through the ``register_tasks`` hook.

Every id in :data:`TASK_IDS` is *reserved*: the core registers its spec at start-up and
plugins serve it (they list it in their backends' ``tasks`` and catalog entries) without
registering it again. This module fixes the types of the text generation, chat,
embedding and tensor tasks; :mod:`altlas_sdk.vision.tasks`, :mod:`altlas_sdk.audio.tasks`
and :mod:`altlas_sdk.text.tasks` fix the others'.

The shorthand helpers (:func:`texts_shorthand`, :func:`field_shorthand`) are public: a
plugin's own ``TaskSpec`` uses them for the same convenient wire forms.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct

from altlas_sdk.tool_calls import ToolCallFormat

# The fixed task ids. Only these and ids registered through ``register_tasks`` exist.
TEXT_GENERATION = "text-generation"
CHAT = "chat"
EMBEDDING = "embedding"
TENSOR = "tensor"
OBJECT_DETECTION = "object-detection"
OCR = "ocr"
IMAGE_CLASSIFICATION = "image-classification"
IMAGE_SEGMENTATION = "image-segmentation"
SPEECH_TO_TEXT = "speech-to-text"
TEXT_TO_SPEECH = "text-to-speech"
AUDIO_CLASSIFICATION = "audio-classification"
SPEAKER_DIARIZATION = "speaker-diarization"
TEXT_CLASSIFICATION = "text-classification"
RERANK = "rerank"

#: Every reserved task id (the core registers them all), in a stable order.
TASK_IDS: tuple[str, ...] = (
    TEXT_GENERATION,
    CHAT,
    EMBEDDING,
    TENSOR,
    OBJECT_DETECTION,
    OCR,
    IMAGE_CLASSIFICATION,
    IMAGE_SEGMENTATION,
    SPEECH_TO_TEXT,
    TEXT_TO_SPEECH,
    AUDIO_CLASSIFICATION,
    SPEAKER_DIARIZATION,
    TEXT_CLASSIFICATION,
    RERANK,
)

NonNegative = Annotated[float, Meta(ge=0)]
Positive = Annotated[int, Meta(ge=1)]


class Usage(Struct, kw_only=True):
    """Token counts, as OpenAI reports them."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class TopLogprob(Struct, kw_only=True):
    """One candidate token at a position and its log-probability."""

    token: str
    logprob: float


class TokenLogprob(Struct, kw_only=True):
    """A generated token, its log-probability and the most likely candidates there
    (``parameters.logprobs`` of them)."""

    token: str
    logprob: float
    top_logprobs: list[TopLogprob] = []


# --- text-generation ------------------------------------------------------------------


class TextGenerationInput(Struct, kw_only=True, forbid_unknown_fields=True):
    """A prompt. On the wire ``inputs`` may be the bare string."""

    prompt: str


class GenerationParameters(Struct, kw_only=True, forbid_unknown_fields=True):
    """Sampling parameters shared by ``text-generation`` and ``chat``.

    ``None`` means "the backend's default". ``grammar`` is a GBNF grammar and
    ``json_schema`` a JSON Schema the output must follow, where the backend supports them;
    ``tool_calls`` asks for tool calls in the format of :mod:`altlas_sdk.tool_calls`
    (give at most one of the three).
    ``logprobs``: return each generated token's log-probability and this many most
    likely alternatives. ``raw``: send a ``text-generation`` prompt as is, even to a model
    whose entry wraps prompts in its chat template (``None``: the entry decides).
    """

    max_tokens: Positive | None = None
    temperature: NonNegative | None = None
    top_p: Annotated[float, Meta(ge=0, le=1)] | None = None
    top_k: Annotated[int, Meta(ge=0)] | None = None
    min_p: Annotated[float, Meta(ge=0, le=1)] | None = None
    repeat_penalty: NonNegative | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    stop: list[str] | None = None
    seed: int | None = None
    grammar: str | None = None
    json_schema: dict[str, Any] | None = None
    tool_calls: ToolCallFormat | None = None
    logprobs: Annotated[int, Meta(ge=0, le=20)] | None = None
    raw: bool | None = None


FinishReason = Literal["stop", "length", "cancelled"]


class TextGenerationOutput(Struct, kw_only=True):
    """Generated text and why generation stopped."""

    text: str
    finish_reason: FinishReason | None = None
    usage: Usage | None = None
    logprobs: list[TokenLogprob] | None = None


# --- chat -----------------------------------------------------------------------------


class ChatMessage(Struct, kw_only=True, forbid_unknown_fields=True):
    """One message of a conversation."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str


class ChatInput(Struct, kw_only=True, forbid_unknown_fields=True):
    """A conversation. On the wire ``inputs`` may be the bare list of messages."""

    messages: Annotated[list[ChatMessage], Meta(min_length=1)]


class ChatOutput(Struct, kw_only=True):
    """The assistant's reply."""

    message: ChatMessage
    finish_reason: FinishReason | None = None
    usage: Usage | None = None
    logprobs: list[TokenLogprob] | None = None


# --- embedding ------------------------------------------------------------------------


class EmbeddingInput(Struct, kw_only=True, forbid_unknown_fields=True):
    """Texts to embed. On the wire ``inputs`` may be one string or a list of strings."""

    texts: Annotated[list[str], Meta(min_length=1)]


class EmbeddingParameters(Struct, kw_only=True, forbid_unknown_fields=True):
    """``normalize``: L2-normalize each vector; ``truncate``: cut over-long texts
    instead of rejecting them."""

    normalize: bool = True
    truncate: bool = True


class EmbeddingOutput(Struct, kw_only=True):
    """One vector per input text, in input order."""

    embeddings: list[list[float]]
    dimensions: int
    usage: Usage | None = None


# --- tensor ---------------------------------------------------------------------------


class Tensor(Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """A named tensor on the wire: either ``dtype`` + ``shape`` + ``data`` (nested or
    flat list), or ``npy``, a base64-encoded ``.npy`` file. See :mod:`altlas_sdk.tensors`.
    """

    dtype: str | None = None
    shape: list[int] | None = None
    data: Any = None
    npy: str | None = None


class TensorInput(Struct, kw_only=True, forbid_unknown_fields=True):
    """The model's inputs by name."""

    tensors: dict[str, Tensor]


class TensorParameters(Struct, kw_only=True, forbid_unknown_fields=True):
    """``outputs``: names of the outputs to return (all when omitted); ``encoding``:
    how to return them."""

    outputs: list[str] | None = None
    encoding: Literal["json", "npy"] = "json"


class TensorOutput(Struct, kw_only=True):
    """The model's outputs by name."""

    tensors: dict[str, Tensor]


# --- the mechanism --------------------------------------------------------------------


class NoParameters(Struct, kw_only=True, forbid_unknown_fields=True):
    """Parameters of a task that takes none."""


@dataclass(frozen=True)
class TaskSpec:
    """Binds a task id to its wire types.

    ``id`` is the task id; ``input_type``, ``output_type`` and ``parameters_type`` the
    Structs its ``inputs``, ``outputs`` and ``parameters`` decode into (a task without
    parameters keeps :class:`NoParameters`); ``description`` the line ``GET /api/tasks``
    shows. ``shorthand`` maps the convenient wire forms of ``inputs`` (a bare string, a
    bare list) onto the input Struct's mapping form; it receives the raw JSON value and
    returns a value ``msgspec.convert`` accepts for ``input_type``
    (:func:`texts_shorthand` and :func:`field_shorthand` make the usual ones).
    ``media_field`` and ``render`` are described where they are declared.
    """

    id: str
    input_type: type[Struct]
    output_type: type[Struct]
    parameters_type: type[Struct] = NoParameters
    description: str = ""
    shorthand: Callable[[Any], Any] | None = field(default=None, compare=False)
    #: The ``bytes`` field of ``input_type`` that a multipart upload fills (the file
    #: part of that name): ``"image"``, ``"audio"``; ``None`` for tasks without media.
    media_field: str | None = None
    #: Renders an output as raw bytes instead of JSON (synthesized audio, an annotated
    #: image): called with the output and parameters Structs, returns
    #: ``(body, media_type)``, or ``None`` to answer JSON as usual.
    render: Callable[[Any, Any], tuple[bytes, str] | None] | None = field(
        default=None, compare=False
    )
    #: How many pixels one input decodes to, read before it is decoded (from an
    #: image's header), or ``None`` for tasks without images. The dynamic batcher
    #: keeps a batch's sum within ``MAX_BATCH_PIXELS``.
    decoded_pixels: Callable[[Any], int] | None = field(default=None, compare=False)

    def decode_inputs(self, raw: Any) -> Struct:
        """Validate raw JSON ``inputs``; raises ``msgspec.ValidationError`` with a path
        relative to ``inputs``."""
        if self.shorthand is not None:
            raw = self.shorthand(raw)
        return msgspec.convert(raw, self.input_type)

    def decode_parameters(self, raw: Any) -> Struct:
        """Validate raw JSON ``parameters``."""
        return msgspec.convert(raw if raw is not None else {}, self.parameters_type)


def field_shorthand(name: str, *kinds: type) -> Callable[[Any], Any]:
    """A ``TaskSpec.shorthand`` that reads a bare ``inputs`` value of one of ``kinds`` as
    the mapping ``{name: value}``; any other value passes through unchanged.

    ``field_shorthand("text", str)`` lets a client send ``"inputs": "hello"`` for
    ``"inputs": {"text": "hello"}``.
    """

    def shorthand(raw: Any) -> Any:
        return {name: raw} if isinstance(raw, kinds) else raw

    return shorthand


def texts_shorthand(raw: Any) -> Any:
    """The ``texts`` shorthand (``embedding``, ``text-classification``): one string stands
    for ``{"texts": [string]}``, a bare list for ``{"texts": list}``; any other value
    passes through unchanged. Use it as ``TaskSpec(..., shorthand=texts_shorthand)``."""
    if isinstance(raw, str):
        return {"texts": [raw]}
    if isinstance(raw, list):
        return {"texts": raw}
    return raw


#: ``text-generation``'s shorthand: a bare string is the prompt.
prompt_shorthand = field_shorthand("prompt", str)
#: ``chat``'s shorthand: a bare list is the messages.
messages_shorthand = field_shorthand("messages", list)


#: The task specs the core registers itself.
BUILTIN_TASKS: tuple[TaskSpec, ...] = (
    TaskSpec(
        TEXT_GENERATION,
        TextGenerationInput,
        TextGenerationOutput,
        GenerationParameters,
        "Continue a prompt.",
        prompt_shorthand,
    ),
    TaskSpec(
        CHAT,
        ChatInput,
        ChatOutput,
        GenerationParameters,
        "Answer a conversation.",
        messages_shorthand,
    ),
    TaskSpec(
        EMBEDDING,
        EmbeddingInput,
        EmbeddingOutput,
        EmbeddingParameters,
        "Embed texts as vectors.",
        texts_shorthand,
    ),
    TaskSpec(
        TENSOR,
        TensorInput,
        TensorOutput,
        TensorParameters,
        "Run a model on named tensors.",
    ),
)
