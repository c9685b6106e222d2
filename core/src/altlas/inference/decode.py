"""Step 2: decode a request's raw ``inputs`` and ``parameters`` into the task's types."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from altlas_sdk import TaskSpec
from altlas_sdk.errors import ValidationFailed

_PATH = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_UNKNOWN_FIELD = re.compile(r"unknown field `(?P<name>[^`]*)`")


@dataclass(frozen=True)
class TaskCall:
    """Validated inputs and parameters of one task."""

    spec: TaskSpec
    inputs: msgspec.Struct
    parameters: msgspec.Struct


def decode_call(spec: TaskSpec, raw_inputs: object, raw_parameters: object) -> TaskCall:
    """Validate raw JSON against ``spec``; a failure is a 422 whose ``param`` is the
    field's ``$.path`` in the request body."""
    inputs = _convert(spec.decode_inputs, raw_inputs, "$.inputs")
    parameters = _convert(spec.decode_parameters, raw_parameters, "$.parameters")
    return TaskCall(spec, inputs, parameters)


def _convert(decode: Callable[[Any], msgspec.Struct], raw: object, prefix: str) -> msgspec.Struct:
    try:
        return decode(raw)
    except msgspec.ValidationError as error:
        raise validation_failed(error, prefix) from None


def validation_failed(error: msgspec.ValidationError, prefix: str = "$") -> ValidationFailed:
    """A 422 from msgspec's error, its ``$.path`` re-rooted at ``prefix``."""
    message = str(error)
    match = _PATH.search(message)
    path = prefix + (match.group("path") if match else "")
    text = message[: match.start()] if match else message
    unknown = _UNKNOWN_FIELD.search(text)
    if unknown:
        # msgspec points at the object; the client wants the field it got wrong.
        path = f"{path}.{unknown.group('name')}"
    return ValidationFailed(f"{text} (at {path})", param=path)
