"""The design document's in-process llama.cpp adapter::

    from altlas import InferenceRequest, get_llama_cpp_adapter

    adapter = get_llama_cpp_adapter()
    await adapter.load_model("smollm2-135m-instruct", {"n_ctx": 2048, "n_threads": 4})
    response = await adapter.generate(
        model_id="smollm2-135m-instruct",
        request=InferenceRequest(inputs="What is the capital of France?"),
    )

A thin object over the service's catalog, models and inference
(:class:`altlas_sdk.Services`): the same queueing, memory accounting and errors as the
HTTP API.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

import msgspec

from altlas_llama_cpp.options import parse_options
from altlas_sdk import InferenceRequest, InferenceResponse, Services
from altlas_sdk.errors import Conflict, ValidationFailed

if TYPE_CHECKING:
    from altlas_sdk.wire import ModelInfo, ModelStatus


class LlamaCppAdapter:
    """Load GGUF models of the catalog with chosen options, and generate with them."""

    backend = "llama-cpp"

    def __init__(self, runtime: Services) -> None:
        self._runtime = runtime

    def list_models(self) -> list[ModelInfo]:
        """The catalog's models that the llama-cpp backend runs."""
        return [info for info in self._runtime.models.list_models() if info.backend == self.backend]

    async def load_model(
        self, model_id: str, config: Mapping[str, Any] | None = None
    ) -> ModelStatus:
        """Load ``model_id`` with its catalog options, overridden by ``config`` (the
        backend's load options: ``n_ctx``, ``n_threads``, ``n_gpu_layers``...).

        A model already loaded with other options must be unloaded first (409).
        """
        entry = self._runtime.catalog.get(model_id)
        spec = entry.spec
        if spec.backend != self.backend:
            raise ValidationFailed(
                f"model '{model_id}' runs on backend '{spec.backend}', not llama-cpp",
                param="model_id",
                code="wrong_backend",
            )
        if config:
            options = {**spec.options, **config}
            parse_options(model_id, options)  # a typo fails here, before anything changes
            if options != spec.options:
                if self._runtime.models.is_loaded(model_id):
                    raise Conflict(
                        f"model '{model_id}' is loaded with other options; unload it first",
                        code="model_loaded",
                    )
                self._runtime.catalog.replace(msgspec.structs.replace(spec, options=options))
        return await self._runtime.models.load_model(model_id)

    async def unload_model(self, model_id: str) -> ModelStatus:
        """Unload ``model_id``."""
        return await self._runtime.models.unload_model(model_id)

    async def generate(
        self, model_id: str, request: InferenceRequest | None = None, **fields: Any
    ) -> InferenceResponse:
        """Run ``request`` (or one built from ``inputs=..., parameters=...``) on
        ``model_id``: text-generation for a prompt string, chat for a message list."""
        return await self._runtime.inference.run_inference(self._request(model_id, request, fields))

    async def stream(
        self, model_id: str, request: InferenceRequest | None = None, **fields: Any
    ) -> AsyncIterator[msgspec.Struct]:
        """Like :meth:`generate`, yielding output chunks (text pieces; the last one
        carries ``finish_reason`` and ``usage``) as the model produces them."""
        stream = await self._runtime.inference.stream_inference(
            self._request(model_id, request, fields)
        )
        try:
            async for chunk in stream:
                yield chunk
        finally:
            await stream.aclose()

    @staticmethod
    def _request(
        model_id: str, request: InferenceRequest | None, fields: dict[str, Any]
    ) -> InferenceRequest:
        if request is None:
            request = InferenceRequest(**fields)
        elif fields:
            request = msgspec.structs.replace(request, **fields)
        if request.task is None and isinstance(request.inputs, list):
            request = msgspec.structs.replace(request, task="chat")
        return msgspec.structs.replace(request, model_id=model_id)
