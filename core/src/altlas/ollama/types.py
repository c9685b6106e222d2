"""Ollama's request and response objects, as its API reference gives them.

Requests accept every field Ollama documents (a client sends them whether or not the
server uses them); docs/ollama.md says which are honoured and which are ignored.
Unknown fields are accepted too, as Ollama's own server does.
"""

from __future__ import annotations

from typing import Any

from msgspec import Struct

#: ``keep_alive``: a duration string (``"5m"``, ``"1h30m"``), or seconds as a number.
KeepAlive = str | int | float | None


class OllamaMessage(Struct, kw_only=True, omit_defaults=True):
    """One chat message."""

    role: str
    content: str = ""
    images: list[str] | None = None
    thinking: str | None = None
    tool_calls: list[Any] | None = None
    tool_name: str | None = None


class AssistantMessage(Struct, kw_only=True):
    """The message of a ``/api/chat`` answer (``content`` always present, empty in the
    last object of a stream)."""

    role: str
    content: str


class ChatRequest(Struct, kw_only=True):
    """``POST /api/chat``."""

    model: str
    messages: list[OllamaMessage] = []
    tools: list[Any] | None = None
    think: bool | str | None = None
    format: str | dict[str, Any] | None = None
    options: dict[str, Any] | None = None
    stream: bool = True
    keep_alive: KeepAlive = None


class GenerateRequest(Struct, kw_only=True):
    """``POST /api/generate``."""

    model: str
    prompt: str | None = None
    suffix: str | None = None
    images: list[str] | None = None
    think: bool | str | None = None
    format: str | dict[str, Any] | None = None
    options: dict[str, Any] | None = None
    system: str | None = None
    template: str | None = None
    stream: bool = True
    raw: bool = False
    keep_alive: KeepAlive = None
    context: list[int] | None = None


class EmbedRequest(Struct, kw_only=True):
    """``POST /api/embed``."""

    model: str
    input: str | list[str] = []
    truncate: bool = True
    options: dict[str, Any] | None = None
    keep_alive: KeepAlive = None
    dimensions: int | None = None


class EmbeddingsRequest(Struct, kw_only=True):
    """``POST /api/embeddings`` (Ollama's older embedding route)."""

    model: str
    prompt: str = ""
    options: dict[str, Any] | None = None
    keep_alive: KeepAlive = None


class ModelRequest(Struct, kw_only=True):
    """``POST /api/show``, ``POST /api/pull``, ``DELETE /api/delete``: a model name
    (``name`` is the older spelling of ``model``)."""

    model: str | None = None
    name: str | None = None
    verbose: bool = False
    insecure: bool = False
    stream: bool = True


class Timings(Struct, kw_only=True):
    """The statistics of a finished request, in nanoseconds and tokens."""

    total_duration: int
    load_duration: int
    prompt_eval_count: int
    prompt_eval_duration: int
    eval_count: int
    eval_duration: int


class _Answer(Struct, kw_only=True, omit_defaults=True):
    """What every object of a ``/api/chat`` or ``/api/generate`` answer carries; the last
    one has ``done`` and the timings."""

    model: str
    created_at: str
    done: bool
    done_reason: str | None = None
    total_duration: int | None = None
    load_duration: int | None = None
    prompt_eval_count: int | None = None
    prompt_eval_duration: int | None = None
    eval_count: int | None = None
    eval_duration: int | None = None


class ChatResponse(_Answer, kw_only=True, omit_defaults=True):
    """One object of a ``/api/chat`` answer."""

    message: AssistantMessage


class GenerateResponse(_Answer, kw_only=True, omit_defaults=True):
    """One object of a ``/api/generate`` answer."""

    response: str


class EmbedResponse(Struct, kw_only=True):
    """``POST /api/embed``."""

    model: str
    embeddings: list[list[float]]
    total_duration: int
    load_duration: int
    prompt_eval_count: int


class EmbeddingsResponse(Struct, kw_only=True):
    """``POST /api/embeddings``."""

    embedding: list[float]


class ModelDetails(Struct, kw_only=True):
    """A model's ``details``."""

    parent_model: str = ""
    format: str = ""
    family: str = ""
    families: list[str] | None = None
    parameter_size: str = ""
    quantization_level: str = ""


class ListedModel(Struct, kw_only=True, omit_defaults=True):
    """One model of ``/api/tags`` or ``/api/ps``."""

    name: str
    model: str
    size: int
    digest: str
    details: ModelDetails
    modified_at: str | None = None
    expires_at: str | None = None
    size_vram: int | None = None
    context_length: int | None = None


class ModelListing(Struct, kw_only=True):
    """``GET /api/tags`` and ``GET /api/ps``."""

    models: list[ListedModel]


class ShowResponse(Struct, kw_only=True):
    """``POST /api/show``."""

    modelfile: str
    parameters: str
    template: str
    details: ModelDetails
    model_info: dict[str, Any]
    capabilities: list[str]
    license: str = ""
    modified_at: str | None = None


class ProgressResponse(Struct, kw_only=True, omit_defaults=True):
    """One object of an ``/api/pull`` answer."""

    status: str
    digest: str | None = None
    total: int | None = None
    completed: int | None = None


class VersionResponse(Struct, kw_only=True):
    """``GET /api/version``."""

    version: str


class OllamaError(Struct, kw_only=True):
    """Ollama's error body: ``{"error": "..."}``."""

    error: str
