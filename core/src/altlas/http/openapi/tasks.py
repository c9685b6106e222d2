"""Per-task schemas: each registered task's request, response and form, from its TaskSpec.

``InferenceRequest`` and ``InferenceResponse`` describe the envelope of every task,
with ``inputs``, ``parameters`` and ``outputs`` left open. For each task this module
adds components that narrow them to the task's own Structs:

- ``InferenceRequest.<task>``: ``inputs`` is the input Struct (or one of the bare forms
  its shorthand accepts), ``parameters`` the parameters Struct, ``task`` the task id;
- ``InferenceResponse.<task>``: ``outputs`` is the output Struct;
- ``InferenceForm.<task>``: the same request as a multipart form (the file part of a
  task with a ``media_field``, ``model_id``, ``task``, the input fields and the
  parameters), as ``altlas.http.forms`` reads it.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from altlas.http.openapi.refs import component_name, ref
from altlas_sdk import TaskSpec
from altlas_sdk.wire import InferenceRequest, InferenceResponse

#: Looks up the ``$ref`` schema of a type given to ``msgspec.json.schema_components``.
SchemaOf = Callable[[Any], Mapping[str, Any]]

# What a media file part is in OpenAPI 3.1: a string of raw bytes.
_FILE_PART = {"type": "string", "contentMediaType": "application/octet-stream"}
# The body of a task that renders its output (an annotated image, speech) instead of
# JSON: the renderer picks the media type when it runs, so any media type is possible.
_RENDERED = {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}

_CHOICE = (
    "A request for any registered task: `task` names it, or `model_id` alone runs the "
    "model's first task; the inputs and parameters are that task's."
)


@dataclass(frozen=True)
class TaskSchemas:
    """References to one task's components, for the operations that serve it."""

    task: str
    request: Mapping[str, Any]
    response: Mapping[str, Any]
    form: Mapping[str, Any]
    renders: bool


def task_types(specs: Iterable[TaskSpec]) -> list[Any]:
    """Every type the task components are built from, envelopes included."""
    types: list[Any] = [InferenceRequest, InferenceResponse]
    for spec in specs:
        types += [spec.input_type, spec.parameters_type, spec.output_type]
    return types


def add_task_components(
    specs: Iterable[TaskSpec], schema_of: SchemaOf, components: dict[str, Any]
) -> dict[str, TaskSchemas]:
    """Add each task's request, response and form to ``components`` (which already
    holds the schemas of :func:`task_types`); return their references by task id."""
    found: dict[str, TaskSchemas] = {}
    for spec in specs:
        name = _name_part(spec.id)
        request = _request_schema(spec, schema_of, components)
        response = _response_schema(spec, schema_of, components)
        form = _form_schema(spec, schema_of, components)
        components[f"InferenceRequest.{name}"] = request
        components[f"InferenceResponse.{name}"] = response
        components[f"InferenceForm.{name}"] = form
        found[spec.id] = TaskSchemas(
            task=spec.id,
            request=ref(f"InferenceRequest.{name}"),
            response=ref(f"InferenceResponse.{name}"),
            form=ref(f"InferenceForm.{name}"),
            renders=spec.render is not None,
        )
    return found


def request_content(schemas: Iterable[TaskSchemas]) -> dict[str, Any]:
    """The ``content`` of a request body that any of these tasks' requests may be."""
    chosen = list(schemas)
    requests, forms = _any_of(s.request for s in chosen), _any_of(s.form for s in chosen)
    if len(chosen) > 1:
        for schema in (requests, forms):
            schema["description"] = _CHOICE
    return {
        "application/json": {"schema": requests},
        "multipart/form-data": {"schema": forms},
    }


def response_content(schemas: Iterable[TaskSchemas]) -> dict[str, Any]:
    """The ``content`` of a success response of any of these tasks."""
    chosen = list(schemas)
    content: dict[str, Any] = {"application/json": {"schema": _any_of(s.response for s in chosen)}}
    if any(s.renders for s in chosen):
        content["*/*"] = dict(_RENDERED)
    return content


def _any_of(schemas: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    # anyOf, not oneOf: tasks share input shapes (every vision task takes one image),
    # and a request that names only its model matches each task its inputs fit.
    listed = [dict(schema) for schema in schemas]
    return listed[0] if len(listed) == 1 else {"anyOf": listed}


def _request_schema(
    spec: TaskSpec, schema_of: SchemaOf, components: Mapping[str, Any]
) -> dict[str, Any]:
    schema = copy.deepcopy(components[component_name(schema_of(InferenceRequest))])
    schema["title"] = f"InferenceRequest.{_name_part(spec.id)}"
    schema["description"] = f"A request for task '{spec.id}'. {spec.description}".strip()
    properties = schema["properties"]
    inputs = dict(schema_of(spec.input_type))
    forms = _shorthand_forms(spec, components[component_name(inputs)])
    properties["inputs"] = {"anyOf": [inputs, *forms]} if forms else inputs
    properties["parameters"] = dict(schema_of(spec.parameters_type))
    # On a task route the body may repeat the route's task, or leave it out.
    properties["task"] = {"enum": [spec.id, None], "default": None}
    return schema


def _response_schema(
    spec: TaskSpec, schema_of: SchemaOf, components: Mapping[str, Any]
) -> dict[str, Any]:
    schema = copy.deepcopy(components[component_name(schema_of(InferenceResponse))])
    schema["title"] = f"InferenceResponse.{_name_part(spec.id)}"
    schema["description"] = f"The answer of task '{spec.id}'."
    schema["properties"]["outputs"] = dict(schema_of(spec.output_type))
    schema["properties"]["task"] = {"const": spec.id}
    return schema


def _form_schema(
    spec: TaskSpec, schema_of: SchemaOf, components: Mapping[str, Any]
) -> dict[str, Any]:
    """The multipart form ``altlas.http.forms`` reads: the file part fills the media
    field, a field naming another input field fills it, ``model_id`` and ``task`` are
    the request's own, and every other field is a parameter (a list or mapping written
    as JSON)."""
    inputs = components[component_name(schema_of(spec.input_type))]
    parameters = components[component_name(schema_of(spec.parameters_type))]
    # Later entries win, as in the form reader: inputs over parameters, then the
    # request's own fields.
    properties = {
        **copy.deepcopy(parameters.get("properties", {})),
        **copy.deepcopy(inputs.get("properties", {})),
    }
    required = list(inputs.get("required", []))
    description = f"A multipart request for task '{spec.id}': input fields and parameters"
    if spec.media_field is not None:
        properties[spec.media_field] = dict(_FILE_PART)
        required = [spec.media_field, *(n for n in required if n != spec.media_field)]
        description += f", and the file part '{spec.media_field}'"
    properties |= {"model_id": {"type": "string"}, "task": {"const": spec.id}}
    return {
        "title": f"InferenceForm.{_name_part(spec.id)}",
        "description": description + ".",
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def _shorthand_forms(spec: TaskSpec, inputs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The bare forms of ``inputs`` that ``spec.shorthand`` accepts, found by asking it.

    A shorthand maps a bare string or list onto one field of the input Struct
    (``"hi"`` -> ``{"prompt": "hi"}``, ``"hi"`` -> ``{"texts": ["hi"]}``), so each form it
    accepts takes the schema of that field, or of its items. A shorthand is a pure
    function of the raw JSON value, so asking it is safe; one that raises on a probe
    simply has no form of that kind.
    """
    if spec.shorthand is None:
        return []
    properties = inputs.get("properties", {})
    forms: list[dict[str, Any]] = []
    for probe in ("altlas-probe", []):  # compared by identity below
        try:
            mapped = spec.shorthand(probe)
        except Exception:  # noqa: BLE001 - a plugin's shorthand may raise anything
            continue
        if not isinstance(mapped, dict):
            continue
        for field, value in mapped.items():
            schema = properties.get(field)
            if schema is None:
                continue
            if value is probe:
                forms.append(copy.deepcopy(schema))
            elif isinstance(value, list) and len(value) == 1 and value[0] is probe:
                if isinstance(schema.get("items"), dict):
                    forms.append(copy.deepcopy(schema["items"]))
    return forms


def _name_part(task: str) -> str:
    # Component names may hold only letters, digits, ".", "-" and "_".
    return re.sub(r"[^A-Za-z0-9._-]", "_", task)
