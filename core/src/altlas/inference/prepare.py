"""Step 1 of every request: prepare it once.

A prepared request holds everything the rest of the pipeline needs and nothing it must
work out again: the catalog entry of the model that runs it, the task call with its
inputs and parameters already decoded into the task's types, the request's ``cache``
choice, its id and when it started. Every way into the pipeline (the HTTP routes,
``/v1``, batch and parallel calls, the orchestrator's attempts and ensemble members,
the in-process facades) prepares a request here, then runs or streams it.

A raw request (JSON ``inputs``) is decoded with the task's types; a typed one (the
``/v1`` translators, the orchestrator trying one call on several models) arrives with
its :class:`TaskCall` built and is never decoded again.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

import msgspec

from altlas import tracing
from altlas.inference.caps import RequestCaps
from altlas.inference.decode import TaskCall, decode_call
from altlas.inference.select import ModelSelector
from altlas.registry import Registry
from altlas.security.principal import require_model
from altlas_sdk import InferenceRequest, ModelSpec, TaskSpec
from altlas_sdk.errors import TaskNotServed


@dataclass(frozen=True)
class PreparedRequest:
    """One request, ready to run: the model, the decoded call and the request's
    choices. Build one with :meth:`Preparer.prepare` or :meth:`Preparer.prepare_call`."""

    spec: ModelSpec
    call: TaskCall
    request_id: str
    #: The request's ``cache``: ``False`` skips the cache, ``True`` caches even a
    #: sampling call, ``None`` lets the cache decide.
    cache: bool | None = None
    #: ``time.perf_counter()`` when the request arrived (``total_ms`` counts from it).
    started: float = field(default_factory=time.perf_counter)

    @property
    def task(self) -> str:
        """The task the request runs."""
        return self.call.spec.id


class Preparer:
    """Selects the model and decodes the call of a request."""

    def __init__(
        self, selector: ModelSelector, registry: Registry, caps: RequestCaps | None = None
    ) -> None:
        self.selector = selector
        self.registry = registry
        #: Per-request caps on work (``MAX_TOKENS``...), checked on every call prepared.
        self.caps = caps or RequestCaps()

    def prepare(
        self,
        request: InferenceRequest,
        *,
        task: str | None = None,
        request_id: str | None = None,
        started: float | None = None,
    ) -> PreparedRequest:
        """Select the model and decode the inputs of a raw request. ``task`` is the
        task a route names (it lets ``model_id`` be omitted). Raises
        :class:`~altlas_sdk.errors.AltlasError` subclasses (404, 422...)."""
        with tracing.span("altlas.select"):
            selection = self.selector.select(request, task)
            require_model(selection.entry.spec.id)
            call = decode_call(
                self.registry.tasks[selection.task].item, request.inputs, request.parameters
            )
            self.caps.check(call)
        return PreparedRequest(
            spec=selection.entry.spec,
            call=call,
            request_id=request_id or uuid.uuid4().hex,
            cache=request.cache,
            started=time.perf_counter() if started is None else started,
        )

    def prepare_call(
        self,
        model_id: str | None,
        call: TaskCall,
        *,
        cache: bool | None = None,
        request_id: str | None = None,
        started: float | None = None,
    ) -> PreparedRequest:
        """Prepare a call whose inputs and parameters are already the task's types, for
        ``model_id`` (``None``: the task's default model). Nothing is decoded."""
        task = call.spec.id
        self.caps.check(call)
        # A strategy choosing a default model may read the request as it came.
        raw_parameters = msgspec.structs.asdict(call.parameters) if model_id is None else {}
        with tracing.span("altlas.select"):
            selection = self.selector.select(
                InferenceRequest(
                    model_id=model_id, task=task, inputs=call.inputs, parameters=raw_parameters
                ),
                task,
            )
        require_model(selection.entry.spec.id)
        return PreparedRequest(
            spec=selection.entry.spec,
            call=call,
            request_id=request_id or uuid.uuid4().hex,
            cache=cache,
            started=time.perf_counter() if started is None else started,
        )

    def prepare_typed(
        self,
        model_id: str | None,
        task: str,
        typed: tuple[msgspec.Struct, msgspec.Struct],
        *,
        request_id: str | None = None,
    ) -> PreparedRequest:
        """Prepare ``task`` on inputs and parameters a translator built already in the
        task's types (``typed``: ``(inputs, parameters)``, as ``/v1``'s translators give
        them) for ``model_id`` (``None``: the task's default model)."""
        inputs, parameters = typed
        call = TaskCall(self._spec(task), inputs, parameters)
        return self.prepare_call(model_id, call, request_id=request_id)

    def call_for(self, task: str, raw_inputs: object, raw_parameters: object) -> TaskCall:
        """Decode raw inputs and parameters for ``task`` once, to run on several models
        (a parallel call, an orchestrated request)."""
        return decode_call(self._spec(task), raw_inputs, raw_parameters)

    def _spec(self, task: str) -> TaskSpec:
        owned = self.registry.tasks.get(task)
        if owned is None:
            raise TaskNotServed(task, f"no installed plugin serves task '{task}'")
        return owned.item
