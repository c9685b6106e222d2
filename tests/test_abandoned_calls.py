"""A backend call whose request went away (its client left, an orchestration timed out)
still runs in its thread: the model stays in use, so no unload or eviction tears the
backend down under it, until the call returns."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from altlas_sdk.wire import InferenceRequest


def test_an_unload_waits_for_a_call_whose_request_was_cancelled(
    fixture_plugins: Path, make_runtime: Callable[..., Any]
) -> None:
    import altlas_fixture_echo as echo

    runtime = make_runtime(RESPONSE_CACHE="none", QUEUE_TIMEOUT="120")

    async def scenario() -> None:
        await runtime.start()
        try:
            echo.HELD.clear()
            echo.RELEASE.clear()
            # "hold" makes the echo backend wait for RELEASE, deaf to its cancellation
            # token, as a native call that cannot stop midway.
            request = InferenceRequest(model_id="echo-1", inputs="hold")
            held = asyncio.ensure_future(runtime.inference.run_inference(request))
            assert await asyncio.to_thread(echo.HELD.wait, 60)
            held.cancel()
            await asyncio.gather(held, return_exceptions=True)
            assert held.cancelled()
            # The request is gone; its call is not.
            assert runtime.models.status("echo-1").in_flight == 1
            unload = asyncio.ensure_future(runtime.models.unload_model("echo-1"))
            for _ in range(20):
                await asyncio.sleep(0)
            assert not unload.done(), "the model was unloaded under a running call"
            assert runtime.models.is_loaded("echo-1")
            echo.RELEASE.set()
            status = await asyncio.wait_for(unload, 60)
            assert status.state == "available"
            assert status.in_flight == 0
        finally:
            echo.RELEASE.set()
            await runtime.stop()

    asyncio.run(scenario())
