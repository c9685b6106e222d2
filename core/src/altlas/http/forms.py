"""Multipart bodies for the media task routes, as the design document's curl examples
send them (``-F "image=@bus.jpg" -F "confidence=0.5" -F "model_id=yolo-v8"``).

A form is decoded straight into the task's call (its input and parameters Structs), which
is then prepared like any other request: the file part named by the task's
``media_field`` fills that input field, ``model_id`` and ``task`` are the request's own,
a field naming another input field goes to ``inputs`` and every other field to
``parameters``. Form values are strings; they are converted leniently ("0.5" -> 0.5,
"true" -> True) into the task's Structs, once, and a value written as JSON (``[0, 2]``)
is decoded first, so list and mapping parameters can be sent too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request

from altlas.inference.decode import TaskCall, validation_failed
from altlas_sdk import TaskSpec
from altlas_sdk.errors import BadRequest, ValidationFailed

FORM_MEDIA_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")

#: Resolves the task spec of a form request from its ``model_id`` and ``task`` fields.
SpecResolver = Callable[[str | None, str | None], TaskSpec]

# A media request has one file and a handful of fields; anything far beyond is abuse.
_MAX_FILES = 4
_MAX_FIELDS = 128


def is_form(request: Request) -> bool:
    """Whether the body is a form (multipart or urlencoded) rather than JSON."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return media_type in FORM_MEDIA_TYPES


@dataclass(frozen=True)
class FormCall:
    """A form body, decoded: the model it names (if any) and the task's call."""

    model_id: str | None
    call: TaskCall


async def decode_form(request: Request, resolve: SpecResolver) -> FormCall:
    """Read a form body into the call of the task ``resolve`` names. Raises 400 for a
    malformed body, 422 for a missing or invalid field."""
    fields, files = await _read_form(request)
    model_id = _pop_text(fields, "model_id")
    task = _pop_text(fields, "task")
    spec = resolve(model_id, task)

    inputs: dict[str, Any] = {}
    if spec.media_field is not None:
        if spec.media_field not in files:
            raise ValidationFailed(
                f"the form has no file part '{spec.media_field}' (task '{spec.id}' needs one)",
                param=spec.media_field,
            )
        inputs[spec.media_field] = files.pop(spec.media_field)
    if files:
        names = ", ".join(sorted(files))
        raise ValidationFailed(f"unexpected file part(s): {names}", param=sorted(files)[0])

    input_fields = set(spec.input_type.__struct_fields__)
    parameters: dict[str, Any] = {}
    for name, value in fields.items():
        (inputs if name in input_fields else parameters)[name] = value
    call = TaskCall(
        spec,
        _lenient(spec.input_type, inputs, "inputs"),
        _lenient(spec.parameters_type, parameters, "parameters"),
    )
    return FormCall(model_id, call)


async def parse_form(request: Request, *, max_files: int, max_fields: int) -> FormData:
    """The request's form body, parsed within the given bounds; a malformed or
    oversized one is a 400 ``invalid_form``."""
    try:
        return await request.form(max_files=max_files, max_fields=max_fields)
    except BadRequest:
        raise
    except Exception as error:  # noqa: BLE001 - Starlette raises several types here
        # Starlette reports malformed multipart bodies as HTTPException or
        # MultiPartException depending on where the parser stops.
        detail = getattr(error, "detail", None) or getattr(error, "message", None) or error
        raise BadRequest(f"malformed form body: {detail}", code="invalid_form") from None


async def _read_form(request: Request) -> tuple[dict[str, Any], dict[str, bytes]]:
    form = await parse_form(request, max_files=_MAX_FILES, max_fields=_MAX_FIELDS)
    fields: dict[str, Any] = {}
    files: dict[str, bytes] = {}
    try:
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                files[name] = await value.read()
            elif name in fields:
                # A repeated field is a list: -F classes=0 -F classes=2.
                previous = fields[name]
                fields[name] = (
                    [*previous, value] if isinstance(previous, list) else [previous, value]
                )
            else:
                fields[name] = _maybe_json(value)
    finally:
        await form.close()
    return fields, files


def _pop_text(fields: dict[str, Any], name: str) -> str | None:
    value = fields.pop(name, None)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValidationFailed(f"form field '{name}' must be given once", param=name)
    return value


def _maybe_json(value: str) -> Any:
    stripped = value.strip()
    if stripped[:1] in ("[", "{"):
        try:
            return msgspec.json.decode(stripped)
        except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
            # Not JSON after all (or too deep to be a parameter): the string itself.
            return value
    return value


def _lenient(kind: type[msgspec.Struct], raw: dict[str, Any], where: str) -> msgspec.Struct:
    """Convert string values into ``kind``'s field types (its bounds apply)."""
    try:
        return msgspec.convert(raw, kind, strict=False)
    except msgspec.ValidationError as error:
        raise validation_failed(error, f"form.{where}") from None
