"""``GET /openapi.json`` and ``GET /docs``: every route listed, schemas from the msgspec types."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import msgspec
import pytest
from starlette.applications import Starlette
from starlette.endpoints import HTTPEndpoint
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from altlas.http.openapi import describe, openapi_document, route_doc
from altlas_sdk.wire import ErrorBody, InferenceRequest, ModelStatus


@pytest.fixture
def client(fixture_plugins, make_runtime, serve):
    with serve(make_runtime()) as client:
        yield client


def refs(node: Any) -> set[str]:
    """Every ``$ref`` anywhere under ``node``."""
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(refs(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(refs(item) for item in node))
    return set()


def test_every_route_of_the_app_is_listed_with_its_methods(client):
    document = client.get("/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    paths = document["paths"]
    app = client.app
    tasks = client.get("/api/tasks").json()["tasks"]
    for route in app.router.routes:
        if not isinstance(route, Route):
            continue
        path = re.sub(r"{(\w+):\w+}", r"{\1}", route.path)
        # The task route is listed once per registered task.
        listed = [path.replace("{task}", t["id"]) for t in tasks] if "{task}" in path else [path]
        for method in route.methods - {"HEAD"}:
            for one in listed:
                assert method.lower() in paths[one], (method, one)
    # Plugin routes are listed too, generically.
    ping = paths["/api/plugins/fixture-echo/ping"]["get"]
    assert ping["responses"]["default"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorBody"
    }
    for path in ("/api/inference/batch", "/api/inference/parallel", "/openapi.json", "/docs"):
        assert path in paths


def test_described_routes_carry_their_request_response_and_error_schemas(client):
    document = client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    inference = document["paths"]["/api/inference/"]["post"]
    body = inference["requestBody"]["content"]["application/json"]["schema"]
    assert {"$ref": "#/components/schemas/InferenceRequest.embedding"} in body["anyOf"]
    ok = inference["responses"]["200"]["content"]["application/json"]["schema"]
    assert {"$ref": "#/components/schemas/InferenceResponse.embedding"} in ok["anyOf"]
    for status in ("400", "404", "409", "413", "415", "422", "500", "503"):
        error = inference["responses"][status]["content"]["application/json"]["schema"]
        assert error == {"$ref": "#/components/schemas/ErrorBody"}, status
    assert "Retry-After" in inference["responses"]["503"]["headers"]

    load = document["paths"]["/api/models/{model_id}/load"]["post"]
    assert load["parameters"] == [
        {"name": "model_id", "in": "path", "required": True, "schema": {"type": "string"}}
    ]
    assert load["requestBody"]["required"] is False  # {"pin": true} may be left out
    unload = document["paths"]["/api/models/{model_id}/unload"]["post"]
    assert "requestBody" not in unload and "415" not in unload["responses"]

    # The schemas are msgspec's own, so they forbid what the decoders forbid. The
    # envelope (a batch's items) leaves the task's inputs open.
    assert schemas["InferenceRequest"]["additionalProperties"] is False
    assert schemas["InferenceRequest"]["required"] == ["inputs"]
    assert schemas["BatchRequest"]["properties"]["requests"]["minItems"] == 1
    assert schemas["ParallelRequest"]["properties"]["model_ids"]["uniqueItems"] is True
    expected = msgspec.json.schema(ModelStatus, ref_template="#/components/schemas/{name}")
    assert schemas["ModelStatus"] == expected["$defs"]["ModelStatus"]

    # Every reference resolves, and operation ids are unique.
    for ref in refs(document):
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in schemas
    ids = [op["operationId"] for ops in document["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))


def test_system_routes_are_described(client):
    paths = client.get("/openapi.json").json()["paths"]

    def schema(path: str, status: str, media: str = "application/json") -> dict:
        return paths[path]["get"]["responses"][status]["content"][media]["schema"]

    # A 503 from /readyz carries the readiness report, not the error body.
    assert schema("/readyz", "200") == schema("/readyz", "503")
    assert schema("/readyz", "503") == {"$ref": "#/components/schemas/Readiness"}
    assert schema("/api/system/resources", "200") == {"$ref": "#/components/schemas/ResourceUsage"}
    assert schema("/metrics", "200", "text/plain") == {"type": "string"}
    assert schema("/healthz", "200") == {"$ref": "#/components/schemas/Health"}


def test_summaries_come_from_the_docstrings(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert paths["/healthz"]["get"]["summary"] == "The process is up and serving."
    assert paths["/api/inference/batch"]["post"]["summary"].startswith("Independent requests")


def test_generator_lists_any_route_module():
    """A route module of any kind (plugin routes, class endpoints, mounts) is listed;
    ``describe`` works as a decorator and on an existing endpoint."""

    @describe(request=InferenceRequest, response=ModelStatus, errors=[404, 409], tags=["x"])
    async def described(request):
        """``POST /things/{name}``: does a thing.

        More detail that is not the summary."""
        return PlainTextResponse("")

    async def bare(request):
        return PlainTextResponse("")

    class Items(HTTPEndpoint):
        async def get(self, request):
            return PlainTextResponse("")

        async def delete(self, request):
            return PlainTextResponse("")

    form = {"multipart/form-data": {"schema": {"type": "object"}}}
    uploaded = describe(request_content=form)(bare)
    assert route_doc(uploaded) is not None and route_doc(described).errors == (404, 409)

    app = Starlette(
        routes=[
            Route("/things/{name}", described, methods=["POST"]),
            Route("/items/{item_id:int}", Items),
            Mount("/mounted", routes=[Route("/files/{rest:path}", uploaded, methods=["PUT"])]),
        ]
    )
    document = openapi_document(app.router.routes, title="t", version="1")
    paths = document["paths"]
    thing = paths["/things/{name}"]["post"]
    assert thing["summary"] == "Does a thing."
    assert thing["tags"] == ["x"]
    assert set(thing["responses"]) == {
        "200", "400", "404", "409", "413", "415", "422", "500", "default"
    }  # fmt: skip
    assert set(paths["/items/{item_id}"]) == {"get", "delete"}
    assert paths["/items/{item_id}"]["get"]["parameters"][0]["schema"]["type"] == "integer"
    mounted = paths["/mounted/files/{rest}"]["put"]
    assert mounted["requestBody"]["content"] == form
    assert set(document["components"]["schemas"]) == {
        "ErrorBody",
        "ErrorDetail",
        "InferenceRequest",
        "ModelStatus",
        "MemoryInfo",
        "HostInfo",
    }
    assert ErrorBody.__name__ in document["components"]["schemas"]


def test_docs_page_is_swagger_ui_from_the_services_own_files(client):
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert 'url: "openapi.json"' in page
    # Nothing is loaded from elsewhere: the page works offline.
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assets = re.findall(r'(?:src|href)="(docs/assets/[^"]+)"', page)
    assert sorted(assets) == ["docs/assets/swagger-ui-bundle.js", "docs/assets/swagger-ui.css"]
    for asset in assets:
        served = client.get(f"/{asset}")
        assert served.status_code == 200, asset
        assert len(served.content) > 10_000
    assert client.get("/docs/assets/swagger-ui.css").headers["content-type"].startswith("text/css")
    # The static files are no operation of the API.
    paths = client.get("/openapi.json").json()["paths"]
    assert not any(path.startswith("/docs/") for path in paths)


def test_vendored_swagger_ui_carries_its_licence_and_matches_its_manifest():
    import hashlib

    from altlas.http.routes.docs import ASSETS_DIR

    manifest = json.loads((ASSETS_DIR / "versions.json").read_text())
    assert "LICENSE.swagger-ui-dist" in manifest
    assert "Apache License" in (ASSETS_DIR / "LICENSE.swagger-ui-dist").read_text()
    for name, entry in manifest.items():
        assert entry["package"] == "swagger-ui-dist"
        digest = hashlib.sha256((ASSETS_DIR / name).read_bytes()).hexdigest()
        assert digest == entry["sha256"], f"{name} is not what scripts/build-console.sh copied"
    lock = json.loads(
        (Path(__file__).parents[1] / "plugins/console/frontend/package-lock.json").read_text()
    )
    locked = lock["packages"]["node_modules/swagger-ui-dist"]["version"]
    assert {entry["version"] for entry in manifest.values()} == {locked}


def test_equal_types_written_twice_share_one_schema():
    from typing import Annotated

    async def first(request):
        return PlainTextResponse("")

    async def second(request):
        return PlainTextResponse("")

    # Two equal aliases, two objects: one schema, and both routes point at it.
    describe(response=Annotated[list[ModelStatus], msgspec.Meta(min_length=1)])(first)
    describe(response=Annotated[list[ModelStatus], msgspec.Meta(min_length=1)])(second)
    routes = [Route("/a", first), Route("/b", second)]
    paths = openapi_document(routes, title="t", version="1")["paths"]

    def schema(path: str) -> dict:
        return paths[path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]

    assert schema("/a") == schema("/b")
    assert schema("/a")["minItems"] == 1
