"""What ``/api/tags``, ``/api/ps`` and ``/api/show`` say of a catalog model.

Ollama's fields come from the catalog entry and the model's status: ``details`` from
its tags (``parameters``, ``quantization``, ``family``) and backend (``gguf`` for
llama.cpp), ``size`` from its files on disk (the size of the model in memory in
``/api/ps``), ``digest`` from its files' fingerprint, ``expires_at`` from its
``keep_alive``.
"""

from __future__ import annotations

from datetime import datetime, timezone

from altlas.ollama.names import listed_name
from altlas.ollama.types import ListedModel, ModelDetails, ShowResponse
from altlas.runtime import Runtime
from altlas_sdk import ModelSpec
from altlas_sdk.tasks import CHAT, EMBEDDING, TEXT_GENERATION

#: ``expires_at`` of a model that never unloads when idle, as Ollama writes it.
_NEVER = "2318-11-10T00:00:00Z"
_FORMATS = {"llama-cpp": "gguf"}
# Ollama's capability names for the tasks it knows.
_CAPABILITIES = {CHAT: "completion", TEXT_GENERATION: "completion", EMBEDDING: "embedding"}


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat().replace("+00:00", "Z")


def details(spec: ModelSpec) -> ModelDetails:
    """``details`` of ``spec``."""
    family = str(spec.tags.get("family", spec.backend))
    return ModelDetails(
        format=_FORMATS.get(spec.backend, spec.backend),
        family=family,
        families=[family],
        parameter_size=str(spec.tags.get("parameters", "")),
        quantization_level=str(spec.tags.get("quantization", "")),
    )


def _files(runtime: Runtime, spec: ModelSpec) -> tuple[int, float | None]:
    """The size in bytes of ``spec``'s files on disk and when they last changed."""
    size, modified = 0, None
    for ref in runtime.resolver.references(spec).values():
        path = runtime.resolver.locate(ref)
        if path.is_file():
            stat = path.stat()
            size += stat.st_size
            modified = max(modified or 0.0, stat.st_mtime)
    return size, modified


def listed(runtime: Runtime, spec: ModelSpec) -> ListedModel:
    """The ``/api/tags`` entry of ``spec``."""
    size, modified = _files(runtime, spec)
    name = listed_name(spec)
    return ListedModel(
        name=name,
        model=name,
        size=size,
        digest=runtime.models.version_of(spec.id) or "",
        details=details(spec),
        modified_at=_iso(modified) if modified is not None else None,
    )


def ps_entry(runtime: Runtime, spec: ModelSpec) -> ListedModel:
    """The ``/api/ps`` entry of a loaded model: its memory and when it unloads."""
    status = runtime.models.status(spec.id)
    memory = status.memory_measured or status.memory_estimated
    ram = memory.ram_bytes if memory else 0
    gpu = memory.gpu_bytes if memory else 0
    if status.expires_at is not None:
        expires = _iso(status.expires_at)
    elif status.pinned or runtime.models.keep_alive_of(spec.id) < 0:
        expires = _NEVER
    else:
        expires = None  # in use now: its keep_alive counts from the end of the request
    name = listed_name(spec)
    context = spec.options.get("n_ctx")
    return ListedModel(
        name=name,
        model=name,
        size=ram + gpu,
        digest=status.version or "",
        details=details(spec),
        expires_at=expires,
        size_vram=gpu,
        context_length=int(context) if isinstance(context, int) else None,
    )


def show(runtime: Runtime, model_id: str) -> ShowResponse:
    """``/api/show`` for ``model_id``: its catalog entry in Ollama's terms."""
    spec = runtime.catalog.get(model_id).spec
    parameters = "\n".join(f"{key:<30} {value}" for key, value in sorted(spec.options.items()))
    capabilities = sorted({_CAPABILITIES[task] for task in spec.tasks if task in _CAPABILITIES})
    _, modified = _files(runtime, spec)
    return ShowResponse(
        modelfile=f"# altlas catalog entry '{spec.id}'\nFROM {spec.source}\n",
        parameters=parameters,
        template="",
        details=details(spec),
        model_info={
            "general.architecture": str(spec.tags.get("family", spec.backend)),
            "altlas.backend": spec.backend,
            "altlas.tasks": list(spec.tasks),
            "altlas.description": spec.description,
        },
        capabilities=capabilities or list(spec.tasks),
        license=spec.license or "",
        modified_at=_iso(modified) if modified is not None else None,
    )
