"""``/openapi.json`` knows every registered task: its inputs, parameters and outputs,
the task routes that take them, and a third-party plugin's tasks alike."""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import msgspec
import pytest
from msgspec import Struct
from schemathesis.specs.openapi.definitions import OPENAPI_31
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from altlas.config import Settings
from altlas.http.app import create_app
from altlas.http.openapi import TaskBinding, describe, openapi_document
from altlas.http.routes import docs, inference
from altlas.runtime import Runtime
from altlas_sdk import TaskSpec, tasks

REF = "#/components/schemas/"


@pytest.fixture(scope="module")
def served(installed_fixture_plugins, tmp_path_factory):
    """The document of the real app with the pip-installed fixture plugins, and the
    task specs its registry holds."""
    root = tmp_path_factory.mktemp("openapi-tasks")
    (root / "models").mkdir()
    env = {
        "MODEL_DIR": str(root / "models"),
        "CACHE_DIR": str(root / "cache"),
        "ALTLAS_DISABLE_PLUGINS": "fixture-clash,fixture-future,fixture-flaky",
    }
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(installed_fixture_plugins))
        runtime = Runtime(Settings.load(environ=env))
        with TestClient(
            create_app(runtime), base_url="http://localhost", raise_server_exceptions=False
        ) as client:
            document = client.get("/openapi.json").json()
            specs = {task: owned.item for task, owned in runtime.registry.tasks.items()}
    return document, specs


def ref(name: str) -> dict[str, str]:
    return {"$ref": REF + name}


def schema_of(document: dict, name: str) -> dict:
    return document["components"]["schemas"][name]


def validator(document: dict, name: str) -> Any:
    """A JSON Schema validator of one component, its references resolved in the document."""
    return jsonschema_rs.validator_for({"$ref": REF + name, "components": document["components"]})


def test_every_registered_task_has_its_inputs_parameters_and_outputs(served):
    document, specs = served
    assert set(tasks.TASK_IDS) <= set(specs)
    for task, spec in specs.items():
        names = {
            kind: msgspec.json.schema_components([kind], ref_template=REF + "{name}")[0][0]
            for kind in (spec.input_type, spec.parameters_type, spec.output_type)
        }
        request = schema_of(document, f"InferenceRequest.{task}")["properties"]
        inputs = request["inputs"].get("anyOf", [request["inputs"]])
        assert inputs[0] == names[spec.input_type], task
        assert request["parameters"] == names[spec.parameters_type], task
        assert request["task"]["enum"] == [task, None]
        response = schema_of(document, f"InferenceResponse.{task}")["properties"]
        assert response["outputs"] == names[spec.output_type], task
        # The Structs' own schemas are msgspec's, as the decoders see them.
        expected = msgspec.json.schema(spec.input_type, ref_template=REF + "{name}")
        own = expected["$ref"].rsplit("/", 1)[1]
        assert schema_of(document, own) == expected["$defs"][own]


def test_each_task_route_references_its_own_task(served):
    document, specs = served
    paths = document["paths"]
    assert "/api/tasks/{task}" not in paths  # one concrete path per task instead
    for task in specs:
        operation = paths[f"/api/tasks/{task}"]["post"]
        assert "parameters" not in operation
        body = operation["requestBody"]["content"]
        assert body["application/json"]["schema"] == ref(f"InferenceRequest.{task}")
        ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok == ref(f"InferenceResponse.{task}")
        assert specs[task].description in operation["summary"]
    for path, task in inference.TASK_ROUTES.items():
        operation = paths[path]["post"]
        content = operation["requestBody"]["content"]
        assert content["application/json"]["schema"] == ref(f"InferenceRequest.{task}")
        assert content["multipart/form-data"]["schema"] == ref(f"InferenceForm.{task}")
        success = operation["responses"]["200"]["content"]
        assert success["application/json"]["schema"] == ref(f"InferenceResponse.{task}")
        # An annotated image or speech comes back as bytes: another media type.
        assert ("*/*" in success) is (specs[task].render is not None), path


def test_the_inference_route_documents_the_choice_over_tasks(served):
    document, specs = served
    for path in ("/api/inference/", "/api/inference"):
        operation = document["paths"][path]["post"]
        content = operation["requestBody"]["content"]
        choice = content["application/json"]["schema"]["anyOf"]
        assert choice == [ref(f"InferenceRequest.{task}") for task in specs]
        forms = content["multipart/form-data"]["schema"]["anyOf"]
        assert forms == [ref(f"InferenceForm.{task}") for task in specs]
        answers = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert answers["anyOf"] == [ref(f"InferenceResponse.{task}") for task in specs]


def test_a_third_party_plugins_tasks_are_described(served):
    """``altlas-fixture-echo`` registers two tasks of its own, from outside the core."""
    document, specs = served
    assert specs["reverse-text"].input_type.__module__ == "altlas_fixture_echo"
    request = schema_of(document, "InferenceRequest.reverse-text")["properties"]
    # The plugin's shorthand takes a bare string for {"text": ...}.
    assert request["inputs"] == {"anyOf": [ref("ReverseInput"), {"type": "string"}]}
    assert request["parameters"] == ref("ReverseParameters")
    assert schema_of(document, "ReverseParameters")["properties"]["upper"]["type"] == "boolean"
    assert schema_of(document, "InferenceResponse.reverse-text")["properties"]["outputs"] == (
        ref("ReverseOutput")
    )
    operation = document["paths"]["/api/tasks/reverse-text"]["post"]
    assert operation["summary"] == "Task 'reverse-text': Reverse text."

    # A media task: its form has the file part, the other input field and the parameters.
    form = schema_of(document, "InferenceForm.blob-stats")
    assert form["properties"]["blob"] == {
        "type": "string",
        "contentMediaType": "application/octet-stream",
    }
    assert {"label", "scale", "raw", "tags", "model_id", "task"} <= set(form["properties"])
    assert form["required"] == ["blob"] and form["additionalProperties"] is False
    blob = document["paths"]["/api/tasks/blob-stats"]["post"]
    assert blob["requestBody"]["content"]["multipart/form-data"]["schema"] == (
        ref("InferenceForm.blob-stats")
    )
    assert "*/*" in blob["responses"]["200"]["content"]  # raw=true answers the bytes


def test_every_task_has_its_form(served):
    """Every inference route reads multipart forms: a media task's file part is required
    first; the other fields are the input fields and the parameters."""
    document, specs = served
    for task, spec in specs.items():
        form = schema_of(document, f"InferenceForm.{task}")
        parameters = schema_of(document, spec.parameters_type.__name__)
        assert set(parameters.get("properties", {})) <= set(form["properties"]), task
        assert form["properties"]["task"] == {"const": task}
        if spec.media_field is not None:
            assert form["required"][0] == spec.media_field
            assert form["properties"][spec.media_field]["contentMediaType"]
    # curl -F text="Hello there." .../api/audio/text-to-speech
    speech = schema_of(document, "InferenceForm.text-to-speech")
    assert speech["required"] == ["text"] and speech["properties"]["text"]["type"] == "string"


@pytest.mark.parametrize(
    ("task", "inputs"),
    [
        ("text-generation", "Once upon a time"),
        ("text-generation", {"prompt": "Once upon a time"}),
        ("chat", [{"role": "user", "content": "hi"}]),
        ("embedding", "one text"),
        ("embedding", ["two", "texts"]),
        ("embedding", {"texts": ["a"]}),
        ("object-detection", "aGVsbG8="),
        ("speech-to-text", "aGVsbG8="),
        ("text-to-speech", "Hello"),
        ("tensor", {"tensors": {"x": {"dtype": "float32", "shape": [1], "data": [1.0]}}}),
    ],
)
def test_the_documented_requests_accept_the_forms_the_server_accepts(served, task, inputs):
    document, specs = served
    # The server decodes these (the shorthand forms included)...
    specs[task].decode_inputs(inputs)
    # ...and the document says they are valid.
    assert validator(document, f"InferenceRequest.{task}").is_valid({"inputs": inputs})


@pytest.mark.parametrize(
    ("task", "body"),
    [
        ("text-generation", {"inputs": 5}),
        ("text-generation", {"inputs": ["a list"]}),
        ("chat", {"inputs": []}),
        ("embedding", {"inputs": []}),
        ("embedding", {"inputs": "x", "parameters": {"normalize": "yes"}}),
        ("object-detection", {"inputs": {"image": "x"}, "parameters": {"confidence": 2}}),
        ("text-generation", {"inputs": "x", "task": "chat"}),
    ],
)
def test_the_documented_requests_refuse_what_the_server_refuses(served, task, body):
    document, _ = served
    assert not validator(document, f"InferenceRequest.{task}").is_valid(body)


def test_the_document_is_valid_openapi_3_1(served):
    document, _ = served
    jsonschema_rs.validator_for(OPENAPI_31).validate(document)
    # Every component is a valid JSON Schema (2020-12, OpenAPI 3.1's dialect).
    meta = jsonschema_rs.Draft202012Validator(
        {"$ref": "https://json-schema.org/draft/2020-12/schema"}
    )
    for name, schema in document["components"]["schemas"].items():
        assert meta.is_valid(schema), name


def test_the_document_is_built_once_per_app(fixture_plugins, make_runtime, serve, monkeypatch):
    builds: list[int] = []
    build = docs.openapi_document

    def counting(*args: Any, **kwargs: Any) -> dict[str, Any]:
        builds.append(1)
        return build(*args, **kwargs)

    monkeypatch.setattr(docs, "openapi_document", counting)
    with serve(make_runtime()) as client:
        first = client.get("/openapi.json")
        second = client.get("/openapi.json")
        assert first.status_code == second.status_code == 200
        assert first.content == second.content
        assert first.headers["content-type"] == "application/json"
    assert len(builds) == 1
    with serve(make_runtime()) as client:
        assert client.get("/openapi.json").status_code == 200
    assert len(builds) == 2  # another app builds its own


class _In(Struct, kw_only=True, forbid_unknown_fields=True):
    text: str


class _Out(Struct, kw_only=True):
    n: int


def _raising_shorthand(raw: Any) -> Any:
    if isinstance(raw, dict):
        return raw
    raise ValueError("only mappings")


def test_a_shorthand_that_raises_on_a_bare_value_documents_none():
    async def endpoint(request):
        return PlainTextResponse("")

    spec = TaskSpec("count", _In, _Out, shorthand=_raising_shorthand)
    routes = [Route("/count", describe(task="count")(endpoint), methods=["POST"])]
    document = openapi_document(routes, title="t", version="1", tasks={"count": spec})
    request = schema_of(document, "InferenceRequest.count")["properties"]
    assert request["inputs"] == ref("_In")
    assert request["parameters"] == ref("NoParameters")


def test_a_task_route_without_registered_tasks_keeps_its_generic_body():
    async def endpoint(request):
        return PlainTextResponse("")

    routes = [
        Route("/tasks/{task}", describe(task=TaskBinding.FROM_PATH)(endpoint), methods=["POST"]),
        Route("/any", describe(task=TaskBinding.ANY)(endpoint), methods=["POST"]),
    ]
    paths = openapi_document(routes, title="t", version="1")["paths"]
    for path in ("/tasks/{task}", "/any"):
        body = paths[path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert body == ref("InferenceRequest")
        ok = paths[path]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok == ref("InferenceResponse")
