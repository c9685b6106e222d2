"""``LOG_FORMAT=json``: a real ``altlas serve`` writes JSON lines, its access lines and
the events a request causes carrying that request's id."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from altlas.config import ConfigError, Settings
from altlas.logs import JsonFormatter, request_id
from conftest import altlas_command


def test_access_and_event_lines_carry_the_request_id(
    run_server, base_env, installed_fixture_plugins
) -> None:
    env = {
        **base_env,
        "PYTHONPATH": str(installed_fixture_plugins),
        "ALTLAS_LOAD_PLUGINS": "fixture-echo",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
    }
    with run_server(altlas_command, env) as server:
        # The first request loads the model on demand: the load is its event.
        answer = httpx.post(
            f"{server.base}/api/inference/",
            json={"model_id": "echo-1", "inputs": "hello"},
            headers={"x-request-id": "req-load-1"},
            timeout=60,
        )
        assert answer.status_code == 200
        missing = httpx.get(f"{server.base}/api/models/nope", timeout=60)
        assert missing.status_code == 404
    lines = [json.loads(line) for line in server.output.splitlines() if line.strip()]
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)

    mine = [line for line in lines if line.get("request_id") == "req-load-1"]
    (loaded,) = [line for line in mine if line["logger"] == "altlas.manager"]
    assert loaded["level"] == "INFO" and "loaded model echo-1" in loaded["message"]
    (access,) = [line for line in mine if line["logger"] == "uvicorn.access"]
    assert access["method"] == "POST" and access["path"] == "/api/inference/"
    assert access["status"] == 200
    # A request id the server made up is in its access line and response header.
    (other,) = [
        line
        for line in lines
        if line["logger"] == "uvicorn.access" and line.get("path") == "/api/models/nope"
    ]
    assert other["status"] == 404 and other["request_id"] == missing.headers["x-request-id"]
    # Start-up lines, outside any request, have no request id.
    started = [line for line in lines if "Application startup complete" in line["message"]]
    assert started and "request_id" not in started[0]


def test_a_json_line_keeps_extra_fields_and_the_exception() -> None:
    record = logging.LogRecord("altlas.x", logging.ERROR, __file__, 1, "failed %s", ("job",), None)
    record.model = "echo-1"  # as logger.error(..., extra={"model": ...}) sets it
    record.path = object()  # not JSON: written as its repr
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    token = request_id.set("req-7")
    try:
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id.reset(token)
    assert line["message"] == "failed job" and line["level"] == "ERROR"
    assert line["request_id"] == "req-7" and line["model"] == "echo-1"
    assert line["path"].startswith("<object object")
    assert "ValueError: boom" in line["exception"]
    assert line["time"].endswith("+00:00")


def test_an_unknown_log_format_is_refused() -> None:
    with pytest.raises(ConfigError, match="LOG_FORMAT"):
        Settings.load(environ={"LOG_FORMAT": "xml"})
