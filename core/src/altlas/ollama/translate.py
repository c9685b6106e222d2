"""From Ollama requests to the tasks' typed inputs and parameters, and back.

``options`` map to :class:`~altlas_sdk.tasks.GenerationParameters` (``num_predict`` is
``max_tokens``); the options that tune Ollama's own runner (``num_ctx``, ``num_gpu``,
``mirostat``...) have no equivalent per request and are ignored, as Ollama ignores
options it does not know. ``format`` is ``json`` or a JSON Schema, which becomes the
task's ``json_schema`` (llama.cpp constrains its output with it). ``keep_alive`` is a
Go duration (``"5m"``, ``"1h30m"``) or seconds; negative keeps the model forever.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

import msgspec

from altlas.inference.decode import validation_failed
from altlas.ollama.types import ChatRequest, GenerateRequest, Timings
from altlas_sdk.errors import BadRequest
from altlas_sdk.tasks import (
    ChatInput,
    ChatMessage,
    GenerationParameters,
    TextGenerationInput,
)

#: Options that pass through under the same name.
_SAME = (
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "seed",
    "repeat_penalty",
    "presence_penalty",
    "frequency_penalty",
)
#: Options that are honoured (``num_predict`` and ``stop`` besides :data:`_SAME`).
HONOURED_OPTIONS = (*_SAME, "num_predict", "stop")

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_ROLES = ("system", "user", "assistant", "tool")


def keep_alive_seconds(value: str | float | None) -> float | None:
    """Seconds for a ``keep_alive`` (``None``: not given); negative means forever.
    A bad value is a 400."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    parts = _DURATION.findall(body)
    if not body or "".join(number + unit for number, unit in parts) != body:
        raise BadRequest(
            f"keep_alive {value!r} is not a duration (e.g. '5m', '1h30m', '-1', 0)",
            param="$.keep_alive",
        )
    return sign * sum(float(number) * _UNITS[unit] for number, unit in parts)


def generation_parameters(
    options: dict[str, Any] | None, format_: str | dict[str, Any] | None
) -> GenerationParameters:
    """The generation parameters for Ollama ``options`` and ``format``."""
    options = options or {}
    parameters = {name: options[name] for name in _SAME if options.get(name) is not None}
    num_predict = options.get("num_predict")
    # Ollama: -1 generates until the end, -2 until the context fills; both mean no cap.
    if isinstance(num_predict, int) and num_predict > 0:
        parameters["max_tokens"] = num_predict
    stop = options.get("stop")
    if stop:
        parameters["stop"] = [stop] if isinstance(stop, str) else stop
    if format_ == "json":
        parameters["json_schema"] = {"type": "object"}
    elif isinstance(format_, dict):
        parameters["json_schema"] = format_
    elif format_ not in (None, ""):
        raise BadRequest(
            f"format must be 'json' or a JSON schema, got {format_!r}", param="$.format"
        )
    try:
        return msgspec.convert(parameters, GenerationParameters)
    except msgspec.ValidationError as error:
        raise validation_failed(error, "$.options") from None


def chat_request(body: ChatRequest) -> tuple[ChatInput, GenerationParameters]:
    """The ``chat`` task's inputs and parameters for an Ollama chat request."""
    if not body.messages:
        raise BadRequest("messages must not be empty", param="$.messages")
    messages = []
    for index, message in enumerate(body.messages):
        if message.images:
            raise BadRequest(
                "images need a vision chat model; none is installed",
                param=f"$.messages[{index}].images",
                code="unsupported_parameter",
            )
        if message.role not in _ROLES:
            raise BadRequest(
                f"role must be one of {', '.join(_ROLES)}", param=f"$.messages[{index}].role"
            )
        messages.append(ChatMessage(role=message.role, content=message.content))  # type: ignore[arg-type]
    if body.tools:
        raise BadRequest(
            "tool calling is not supported", param="$.tools", code="unsupported_parameter"
        )
    return ChatInput(messages=messages), generation_parameters(body.options, body.format)


def generate_request(
    body: GenerateRequest,
) -> tuple[str, ChatInput | TextGenerationInput, GenerationParameters]:
    """The task (``chat``, or ``text-generation`` for ``raw``), inputs and parameters of
    an Ollama generate request: a prompt goes through the model's chat template, with
    ``system`` as its system message, as Ollama's templates do."""
    if body.images:
        raise BadRequest(
            "images need a vision model; none is installed",
            param="$.images",
            code="unsupported_parameter",
        )
    if body.suffix:
        raise BadRequest(
            "suffix (fill-in-the-middle) is not supported",
            param="$.suffix",
            code="unsupported_parameter",
        )
    parameters = generation_parameters(body.options, body.format)
    prompt = body.prompt or ""
    if body.raw:
        raw = msgspec.structs.replace(parameters, raw=True)
        return "text-generation", TextGenerationInput(prompt=prompt), raw
    messages = [ChatMessage(role="system", content=body.system)] if body.system else []
    messages.append(ChatMessage(role="user", content=prompt))
    return "chat", ChatInput(messages=messages), parameters


def now() -> str:
    """``created_at``: the current time as RFC 3339, as Ollama writes it."""
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def timings(
    *,
    started: float,
    first: float | None,
    finished: float,
    load_ms: float,
    prompt_tokens: int,
    completion_tokens: int,
) -> Timings:
    """The timing fields from ``time.perf_counter()`` readings: ``first`` when the
    first token came. The prompt's evaluation is the time to the first token less the
    load; the generation, the time from the first token to the end."""
    to_first = (first if first is not None else finished) - started
    load_ns = int(load_ms * 1e6)
    return Timings(
        total_duration=int((finished - started) * 1e9),
        load_duration=load_ns,
        prompt_eval_count=prompt_tokens,
        prompt_eval_duration=max(0, int(to_first * 1e9) - load_ns),
        eval_count=completion_tokens,
        eval_duration=int((finished - (first if first is not None else finished)) * 1e9),
    )
