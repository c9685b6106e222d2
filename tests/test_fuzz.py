"""Property-based fuzzing of the real server from its own ``/openapi.json`` (schemathesis):
no input gets a 5xx, and every response matches the status, content type, headers and
schema the document gives it. The document narrows every task route to its task's
inputs and parameters, so the fuzzer sends real task requests (the fixture plugin's
tasks and embedding run, not only fail validation). Also the batch and parallel routes
over real HTTP."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

#: Examples per operation and generation mode: about 45 distinct operations, so about
#: two thousand requests in all, about a minute on two cores.
EXAMPLES = 25
#: Examples for an operation whose request and responses are another's (a media route
#: and its ``/api/tasks/<task>`` twin, ``/api/inference`` and ``/api/inference/``): the
#: same handler on the same schemas, so a few show that it is wired.
TWIN_EXAMPLES = 4
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

#: Statuses that reject invalid data: schemathesis's own list, plus 413 (an over-long
#: generated string can exceed the server's body limit before anything else is checked).
REJECTIONS = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428"]
CONFIG = schemathesis.Config.from_dict(
    {"checks": {"negative_data_rejection": {"expected-statuses": [*REJECTIONS, "429", "5xx"]}}}
)

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def server(installed_fixture_plugins, tmp_path_factory, run_server) -> Iterator[str]:
    """``uvicorn altlas.main:app`` as a subprocess, with the echo fixture and onnx plugins."""
    root = tmp_path_factory.mktemp("fuzz")
    (root / "models").mkdir()
    env = {
        "MODEL_DIR": str(root / "models"),
        "CACHE_DIR": str(root / "cache"),
        "ALTLAS_LOAD_PLUGINS": "fixture-echo,onnx",
        "MAX_REQUEST_BODY_MB": "1",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(installed_fixture_plugins),
    }

    def command(port: int) -> list[str]:
        return [
            str(BIN / "uvicorn"),
            "altlas.main:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ]

    with run_server(command, env) as process:
        yield process.base
    # The server logged no unexpected failure while it was fuzzed.
    assert "Traceback" not in process.output, process.output


def _fuzz(
    operation, mode: GenerationMode, base: str, examples: int, statuses: Counter[str]
) -> None:
    negative = mode is GenerationMode.NEGATIVE
    # Invalid data must also be refused with a 4xx, never accepted.
    checks = [*CHECKS, negative_data_rejection] if negative else CHECKS
    # A form field is text the server reads leniently ("0" is false, "null" a string),
    # so a value of the wrong type is not invalid once it is a form field: invalid
    # bodies are sent as JSON.
    json_only = negative and "application/json" in operation.get_request_payload_content_types()
    strategy = operation.as_strategy(
        generation_mode=mode, media_type="application/json" if json_only else None
    )

    @given(case=strategy)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case):
        response = case.call_and_validate(base_url=base, checks=checks, timeout=30)
        statuses[f"{operation.label} {mode.value} {response.status_code}"] += 1

    fuzz()


def _examples(document: dict[str, Any]) -> dict[tuple[str, str], int]:
    """Examples per ``(METHOD, path)``: an operation that repeats an earlier one's
    request and responses gets :data:`TWIN_EXAMPLES`."""
    seen: set[str] = set()
    examples: dict[tuple[str, str], int] = {}
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            shape = json.dumps([operation.get("requestBody"), operation["responses"]])
            examples[method.upper(), path] = TWIN_EXAMPLES if shape in seen else EXAMPLES
            seen.add(shape)
    return examples


def test_every_operation_survives_fuzzing(server, capsys):
    schema = schemathesis.openapi.from_url(f"{server}/openapi.json", config=CONFIG)
    examples = _examples(httpx.get(f"{server}/openapi.json").json())
    failures: list[str] = []
    statuses: Counter[str] = Counter()
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        # Path parameters are free strings: only a body can be made invalid.
        modes = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if operation.body else [])
        for mode in modes:
            count = examples[operation.method.upper(), operation.path]
            try:
                _fuzz(operation, mode, server, count, statuses)
            except Exception as error:  # noqa: BLE001 - collect every operation's failure
                failures.append(f"{operation.label} ({mode.value}): {error}")
    with capsys.disabled():
        cases = sum(statuses.values())
        print(f"\nschemathesis: {cases} cases over {operations} operations", end=" ")
    assert operations >= 40  # every registered task has its own route
    assert not failures, "\n\n".join(failures)
    # The generated requests are real task requests: the fixture plugin's tasks run.
    for task in ("reverse-text", "blob-stats"):
        assert statuses[f"POST /api/tasks/{task} positive 200"] > 0, statuses


def test_batch_and_parallel_over_http(server):
    with httpx.Client(base_url=server, timeout=30) as client:
        batch = client.post(
            "/api/inference/batch",
            json={
                "requests": [
                    {"model_id": "echo-1", "inputs": "abc"},
                    {"model_id": "no-such-model", "inputs": "x"},
                ]
            },
            headers={"X-Request-ID": "req-0007"},
        )
        assert batch.status_code == 200
        ok, missing = batch.json()["results"]
        assert ok["outputs"] == {"text": "cba"} and ok["request_id"] == "req-0007"
        assert missing["error"]["code"] == "model_not_found"

        parallel = client.post(
            "/api/inference/parallel",
            json={"model_ids": ["echo-1", "echo-2"], "inputs": "ab", "parameters": {"upper": True}},
        )
        assert {m: r["outputs"]["text"] for m, r in parallel.json()["results"].items()} == {
            "echo-1": "BA",
            "echo-2": "BA",
        }
        too_big = client.post(
            "/api/inference/batch",
            content=b'{"requests": [' + b" " * (1024 * 1024) + b"]}",
            headers={"content-type": "application/json"},
        )
        assert too_big.status_code == 413
        assert too_big.json()["error"]["type"] == "payload_too_large"
