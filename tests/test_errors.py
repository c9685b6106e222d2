"""The one JSON error body, pinned for every status the API produces."""

from __future__ import annotations

import pytest

ERROR_KEYS = {"type", "message", "param", "code", "request_id"}


def assert_error(response, status: int, type_: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == ERROR_KEYS
    assert body["error"]["type"] == type_
    assert body["error"]["request_id"] == response.headers["x-request-id"]
    return body["error"]


@pytest.fixture
def client(fixture_plugins, make_runtime, serve):
    with serve(make_runtime()) as client:
        yield client


def test_unknown_route_is_404(client):
    error = assert_error(client.get("/api/nothing-here"), 404, "not_found_error")
    assert error["code"] == "route_not_found"


def test_unknown_model_is_404_naming_it(client):
    error = assert_error(client.get("/api/models/no-such-model"), 404, "not_found_error")
    assert error["code"] == "model_not_found"
    assert "no-such-model" in error["message"]
    response = client.post("/api/inference/", json={"model_id": "no-such-model", "inputs": "x"})
    assert assert_error(response, 404, "not_found_error")["param"] == "$.model_id"


def test_wrong_method_is_405(client):
    response = client.delete("/api/models/echo-1")
    assert_error(response, 405, "invalid_request_error")
    assert "GET" in response.headers["allow"]


def test_malformed_json_is_400(client):
    response = client.post(
        "/api/inference/", content=b'{"model_id": ', headers={"content-type": "application/json"}
    )
    assert assert_error(response, 400, "invalid_request_error")["code"] == "invalid_json"


def test_wrong_content_type_is_415(client):
    response = client.post(
        "/api/inference/", content=b"hello", headers={"content-type": "text/plain"}
    )
    assert assert_error(response, 415, "unsupported_media_type")["param"] == "Content-Type"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model_id": "echo-1"}, "$"),
        ({"model_id": "echo-1", "inputs": "x", "bogus": 1}, "$.bogus"),
        ({"model_id": "echo-1", "inputs": {"text": 5}}, "$.inputs.text"),
        (
            {"model_id": "echo-1", "inputs": "x", "parameters": {"upper": "yes"}},
            "$.parameters.upper",
        ),
        ({"model_id": "echo-1", "inputs": "x", "parameters": {"nope": 1}}, "$.parameters.nope"),
        ({"inputs": "x"}, "$.model_id"),
        ({"model_id": "echo-1", "inputs": ""}, "$.inputs.text"),
    ],
)
def test_validation_errors_are_422_with_the_path(client, body, param):
    error = assert_error(client.post("/api/inference/", json=body), 422, "validation_error")
    assert error["param"] == param


def test_weights_missing_is_409_saying_where_to_put_the_file(client, base_env):
    response = client.post("/api/models/llama2-7b-q4/load")
    error = assert_error(response, 409, "conflict_error")
    assert error["code"] == "weights_missing"
    # Where to put it, relative to MODEL_DIR: the folder's place on disk is not shown.
    assert "MODEL_DIR/llama-2-7b-chat.Q4_K_M.gguf" in error["message"]
    assert base_env["MODEL_DIR"] not in error["message"]


def test_unexpected_exception_is_500_with_only_an_error_id(client, caplog):
    response = client.post("/api/inference/", json={"model_id": "echo-1", "inputs": "explode"})
    error = assert_error(response, 500, "internal_error")
    assert error["code"] and error["code"] in error["message"]
    assert "exploded" not in response.text and "Traceback" not in response.text
    assert any(error["code"] in record.getMessage() for record in caplog.records)
    assert any(record.exc_info for record in caplog.records)


def test_backend_returning_the_wrong_type_is_a_500(client):
    response = client.post("/api/inference/", json={"model_id": "echo-1", "inputs": "wrong-type"})
    assert_error(response, 500, "internal_error")


def test_client_request_id_is_echoed(client):
    response = client.get("/api/models/nope", headers={"X-Request-ID": "client-id-42"})
    assert response.headers["x-request-id"] == "client-id-42"
    assert response.json()["error"]["request_id"] == "client-id-42"
    ok = client.post(
        "/api/inference/",
        json={"model_id": "echo-1", "inputs": "ab"},
        headers={"X-Request-ID": "abc"},
    )
    assert ok.json()["request_id"] == "abc"


def test_model_stays_usable_after_errors(client):
    for text in ("explode", "", "wrong-type"):
        client.post("/api/inference/", json={"model_id": "echo-1", "inputs": text})
    response = client.post("/api/inference/", json={"model_id": "echo-1", "inputs": "abc"})
    assert response.status_code == 200
    assert response.json()["outputs"] == {"text": "cba"}
