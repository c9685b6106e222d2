"""The core's runtime is what the SDK's :class:`altlas_sdk.Services` says lifecycle hooks
and facades receive: every member there, each method callable as the protocol says."""

from __future__ import annotations

import asyncio
import inspect

import pytest

from altlas_sdk import (
    CatalogEntry,
    InferenceRequest,
    InferenceRunner,
    InferenceStream,
    ModelCatalog,
    ModelControl,
    Services,
)
from altlas_sdk.errors import AltlasError


def _protocol_methods(protocol: type) -> list[str]:
    return [
        name
        for name, member in vars(protocol).items()
        if callable(member) and (not name.startswith("_") or name in ("__iter__", "__aiter__"))
    ]


def assert_callable_as(implementation: object, protocol: type) -> None:
    """Every method of ``protocol`` exists on ``implementation``, is a coroutine exactly
    when the protocol's is, and accepts the protocol's arguments by the same names and
    kinds; any extra argument has a default."""
    assert isinstance(implementation, protocol), protocol.__name__
    for name in _protocol_methods(protocol):
        expected = getattr(protocol, name)
        actual = getattr(implementation, name)
        where = f"{type(implementation).__name__}.{name}"
        assert inspect.iscoroutinefunction(actual) == inspect.iscoroutinefunction(expected), where
        wanted = dict(list(inspect.signature(expected).parameters.items())[1:])  # no self
        offered = inspect.signature(actual).parameters
        for param in wanted.values():
            assert param.name in offered, f"{where} lacks {param.name}"
            assert offered[param.name].kind == param.kind, f"{where}: {param.name}"
        for param in offered.values():
            if param.name not in wanted and param.kind not in (
                param.VAR_KEYWORD,
                param.VAR_POSITIONAL,
            ):
                assert param.default is not param.empty, f"{where}: extra {param.name}"


def test_the_runtime_satisfies_the_sdk_protocols(make_runtime):
    runtime = make_runtime()
    assert isinstance(runtime, Services)
    assert_callable_as(runtime.catalog, ModelCatalog)
    assert_callable_as(runtime.models, ModelControl)
    assert_callable_as(runtime.inference, InferenceRunner)
    entry = next(iter(runtime.catalog))
    assert isinstance(entry, CatalogEntry)
    assert runtime.catalog.get(entry.spec.id) is entry


@pytest.mark.usefixtures("fixture_plugins")
def test_a_stream_is_what_the_protocol_describes(make_runtime):
    """``flaky-midstream`` (a fixture model) streams one chunk, then fails."""
    runtime = make_runtime(ALTLAS_DISABLE_PLUGINS="fixture-clash,fixture-future")

    async def main() -> list[str]:
        await runtime.start()
        try:
            stream = await runtime.inference.stream_inference(
                InferenceRequest(model_id="flaky-midstream", inputs="hi")
            )
            assert isinstance(stream, InferenceStream)
            assert (stream.model_id, stream.task) == ("flaky-midstream", "text-generation")
            assert stream.request_id
            chunks: list[str] = []
            with pytest.raises(AltlasError):
                async for chunk in stream:
                    chunks.append(chunk.text)
            await stream.aclose()
            return chunks
        finally:
            await runtime.stop()

    assert asyncio.run(main()) == ["partial"]
