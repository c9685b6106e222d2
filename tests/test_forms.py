"""Multipart bodies on the task routes: the file part fills the task's media field, the
other fields become inputs or parameters, and a task may render raw bytes."""

from __future__ import annotations

import pytest


@pytest.fixture
def client(fixture_plugins, make_runtime, serve):
    with serve(make_runtime()) as client:
        yield client


def test_form_fields_become_inputs_and_parameters(client):
    response = client.post(
        "/api/tasks/blob-stats",
        files={"blob": ("data.bin", b"\x00\x01abc", "application/octet-stream")},
        data={"label": "five", "scale": "0.5", "tags": ["3", "4"], "model_id": "blob-1"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_id"] == "blob-1" and body["task"] == "blob-stats"
    outputs = body["outputs"]
    assert outputs["size"] == 5 and outputs["label"] == "five"
    assert outputs["scale"] == 0.5 and outputs["tags"] == [3, 4]


def test_json_values_in_form_fields(client):
    response = client.post(
        "/api/tasks/blob-stats",
        files={"blob": ("d", b"xyz")},
        data={"tags": "[7, 8]"},
    )
    assert response.json()["outputs"]["tags"] == [7, 8]


def test_the_generic_route_finds_the_task_from_the_model(client):
    response = client.post(
        "/api/inference/", files={"blob": ("d", b"xyz")}, data={"model_id": "blob-1"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["outputs"]["size"] == 3


def test_json_body_carries_the_media_as_base64(client):
    response = client.post(
        "/api/tasks/blob-stats", json={"inputs": {"blob": "eHl6"}, "parameters": {"scale": 2}}
    )
    assert response.json()["outputs"]["size"] == 3


def test_render_answers_raw_bytes_with_timing_headers(client):
    response = client.post(
        "/api/tasks/blob-stats", files={"blob": ("d", b"abc")}, data={"raw": "true"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.content == b"cba"
    assert response.headers["x-model-id"] == "blob-1"
    assert "inference;dur=" in response.headers["server-timing"]


@pytest.mark.parametrize(
    ("files", "data", "status", "param"),
    [
        (None, {"scale": "1"}, 422, "blob"),
        ({"blob": ("d", b"x"), "other": ("e", b"y")}, {}, 422, "other"),
        ({"blob": ("d", b"x")}, {"scale": "big"}, 422, "form.parameters.scale"),
        ({"blob": ("d", b"x")}, {"nonsense": "1"}, 422, "form.parameters.nonsense"),
        ({"blob": ("d", b"x")}, {"model_id": "no-such-model"}, 404, None),
    ],
)
def test_bad_forms_are_4xx_naming_the_field(client, files, data, status, param):
    response = client.post("/api/tasks/blob-stats", files=files, data=data)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    if param is not None:
        assert error["param"] == param


def test_a_form_on_the_generic_route_needs_a_model_or_task(client):
    response = client.post("/api/inference/", data={"scale": "1"})
    assert response.status_code == 422
    assert response.json()["error"]["param"] == "model_id"


def test_a_malformed_multipart_body_is_a_400(client):
    response = client.post(
        "/api/tasks/blob-stats",
        content=b"--nope\r\nnot a multipart body",
        headers={"content-type": "multipart/form-data; boundary=zzz"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_form"
