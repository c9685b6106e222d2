"""A fixture plugin that tests the core's own logic: a new task id, a fake backend,
a catalog entry whose file ships in this package, a plugin route, a response cache,
a selection strategy and a model host. It stands in for no capability."""

from __future__ import annotations

import os
import threading
import time

from msgspec import Struct
from starlette.responses import JSONResponse

from altlas_sdk import (
    Backend,
    Combiner,
    HostInfo,
    LoadedModel,
    ModelHost,
    ModelSpec,
    NodeInfo,
    PluginRoute,
    ResponseCache,
    SelectionStrategy,
    TaskSpec,
    hookimpl,
)
from altlas_sdk.errors import AltlasError, InvalidInput, ModelCrashed
from altlas_sdk.pickles import refuse_untrusted
from altlas_sdk.tasks import CHAT, ChatMessage, ChatOutput

TASK = "reverse-text"


class ReverseInput(Struct, kw_only=True, forbid_unknown_fields=True):
    text: str


class ReverseParameters(Struct, kw_only=True, forbid_unknown_fields=True):
    upper: bool = False


class ReverseOutput(Struct, kw_only=True):
    text: str


BLOB_TASK = "blob-stats"


class BlobInput(Struct, kw_only=True, forbid_unknown_fields=True):
    blob: bytes
    label: str = ""


class BlobParameters(Struct, kw_only=True, forbid_unknown_fields=True):
    scale: float = 1.0
    raw: bool = False
    tags: list[int] = []


class BlobOutput(Struct, kw_only=True):
    size: int
    label: str
    scale: float
    tags: list[int]
    reversed_blob: bytes


def _render_blob(output, parameters):
    """Answers the reversed bytes themselves when asked with ``raw``."""
    return (output.reversed_blob, "application/octet-stream") if parameters.raw else None


def _shorthand(raw):
    return {"text": raw} if isinstance(raw, str) else raw


#: Counters the tests read: loads and inference calls per model id, lifecycle events.
LOADS: dict[str, int] = {}
CALLS: dict[str, int] = {}
EVENTS: list[str] = []

#: Events instead of the clock, for tests that must hold a model busy or show that two
#: calls overlap however busy the machine: a call whose text is "hold" sets HELD and
#: waits for RELEASE; a call whose text is "rendezvous" waits for a second one to meet it.
HELD = threading.Event()
RELEASE = threading.Event()
RENDEZVOUS = threading.Barrier(2)
#: Loads wait until it is set (it is, unless a test clears it to hold loads back).
LOAD_GATE = threading.Event()
LOAD_GATE.set()
WAIT_LIMIT_S = 60.0


class Teapot(AltlasError):
    """An error this plugin renders itself, through the render_error hook."""

    status = 418
    type = "teapot_error"

    def __init__(self) -> None:
        super().__init__("short and stout", code="fixture_teapot")
_lock = threading.Lock()


class EchoModel(LoadedModel):
    """Reverses text. "crash" (or "crash:<this model's id>") plays a host process that
    dies: that call and every later one on this model (a "hold" released after it too)
    raise ModelCrashed, as calls on a dead actor do."""

    def __init__(self, model_id: str, weights: str) -> None:
        self.model_id = model_id
        self.weights = weights
        self.dead = False

    def _check_alive(self):
        if self.dead:
            raise ModelCrashed(self.model_id, "killed by signal 9 (echo fixture)")

    def unload(self):
        self._check_alive()  # a dead process cannot be asked to unload

    def infer(self, task, inputs, parameters, cancel):
        with _lock:
            CALLS[self.model_id] = CALLS.get(self.model_id, 0) + 1
        self._check_alive()
        if task == CHAT:
            reply = inputs.messages[-1].content[::-1]
            return ChatOutput(message=ChatMessage(role="assistant", content=reply))
        if task == BLOB_TASK:
            return BlobOutput(
                size=len(inputs.blob),
                label=inputs.label,
                scale=parameters.scale,
                tags=parameters.tags,
                reversed_blob=inputs.blob[::-1],
            )
        if inputs.text == "explode":
            raise RuntimeError("the echo fixture exploded on purpose")
        if inputs.text == "":
            raise InvalidInput("text must not be empty", param="$.inputs.text")
        if inputs.text == "wrong-type":
            return {"text": "not a struct"}
        if inputs.text == "teapot":
            raise Teapot()
        if inputs.text == "abort" and os.environ.get("ALTLAS_FIXTURE_ALLOW_ABORT") == "1":
            # A real native crash, for hosts that run models in processes of their own
            # (ray); only where the environment allows it, never in a test's own server.
            os.abort()
        if inputs.text in ("crash", f"crash:{self.model_id}"):
            self.dead = True
            self._check_alive()
        if inputs.text == "hold":
            HELD.set()
            RELEASE.wait(WAIT_LIMIT_S)
            self._check_alive()
        if inputs.text == "rendezvous":
            RENDEZVOUS.wait(WAIT_LIMIT_S)
        if inputs.text.startswith("sleep:"):
            time.sleep(float(inputs.text.split(":", 1)[1]))
        text = inputs.text[::-1]
        return ReverseOutput(text=text.upper() if parameters.upper else text)


    def stream(self, task, inputs, parameters, cancel):
        """The reversed text a character at a time. A chat (an entry the operator's
        config gives the ``chat`` task) answers its last message; "hold" streams
        nothing until the request is cancelled, so a test can keep the model's slot
        for as long as its client stays."""
        text = inputs.messages[-1].content if task == CHAT else inputs.text
        self._check_alive()
        if text == "crash":
            # One chunk, then the process "dies" under the stream.
            if task == CHAT:
                yield ChatOutput(message=ChatMessage(role="assistant", content="h"))
            else:
                yield ReverseOutput(text="h")
            self.dead = True
            self._check_alive()
        if text == "hold":
            HELD.set()
            while not cancel.cancelled:
                time.sleep(0.01)
            return
        for char in text[::-1]:
            if task == CHAT:
                yield ChatOutput(message=ChatMessage(role="assistant", content=char))
            else:
                yield ReverseOutput(text=char)


class EchoBackend(Backend):
    name = "echo"
    tasks = (TASK, BLOB_TASK, CHAT)
    file_suffixes = (".echo",)

    def load(self, spec, files, policy):
        delay = float(spec.options.get("load_delay_s", 0))
        if spec.options.get("fail_load"):
            raise RuntimeError("echo fixture load failed on purpose")
        if spec.options.get("no_safe_loader"):
            # As a backend whose library can only unpickle unrestricted does.
            refuse_untrusted(spec, [files.path], why="the echo fixture has no safe loader")
        time.sleep(delay)
        LOAD_GATE.wait(WAIT_LIMIT_S)
        with _lock:
            LOADS[spec.id] = LOADS.get(spec.id, 0) + 1
        return EchoModel(spec.id, files.path.read_text())


class HostedModel(LoadedModel):
    """A model loaded by the fixture host: the backend's model, reporting its node."""

    def __init__(self, inner, node):
        self.inner = inner
        self.node = node
        self.device = inner.device

    def infer(self, task, inputs, parameters, cancel):
        return self.inner.infer(task, inputs, parameters, cancel)

    def stream(self, task, inputs, parameters, cancel):
        return self.inner.stream(task, inputs, parameters, cancel)

    def unload(self):
        self.inner.unload()

    def host(self):
        return HostInfo(kind="fixture", node=self.node, pid=os.getpid())


class FixtureHost(ModelHost):
    """MODEL_HOST=fixture: runs models in this process but reports two nodes, placing
    each model on the node its entry's ``placement`` names (else node-a)."""

    name = "fixture"

    def start(self, options):
        EVENTS.append(f"host-start:{options.namespace}")

    def stop(self):
        EVENTS.append("host-stop")

    def load(self, backend, spec, files, policy, *, node=None):
        chosen = next((key[5:] for key in spec.placement if key.startswith("node:")), None)
        return HostedModel(backend.load(spec, files, policy), chosen or node or "node-a")

    def nodes(self):
        return [
            NodeInfo(node="node-a", address="127.0.0.1", ram_total_bytes=1 << 30, gpus=0),
            NodeInfo(node="node-b", address="127.0.0.1", ram_total_bytes=1 << 30, gpus=1),
        ]


class DictCache(ResponseCache):
    name = "fixture-dict"

    def __init__(self) -> None:
        self.store: dict[str, bytes] = {}

    async def get(self, key):
        return self.store.get(key)

    async def set(self, key, value):
        self.store[key] = value


class JoinCombiner(Combiner):
    """Joins the members' texts: an ensemble of echo models shows who answered."""

    name = "fixture-join"
    tasks = (TASK,)

    def combine(self, task, members, parameters):
        return ReverseOutput(text="|".join(member.output.text for member in members))


class LastStrategy(SelectionStrategy):
    """Picks the last candidate: proves a plugin's strategy is used."""

    name = "fixture-last"

    def rank(self, task, candidates, request):
        return list(reversed(candidates))


async def ping(scope, receive, send):
    await JSONResponse({"pong": True})(scope, receive, send)


@hookimpl
def register_tasks(register):
    register(TaskSpec(TASK, ReverseInput, ReverseOutput, ReverseParameters, "Reverse text.", _shorthand))
    register(
        TaskSpec(
            BLOB_TASK,
            BlobInput,
            BlobOutput,
            BlobParameters,
            "Size of an uploaded blob.",
            media_field="blob",
            render=_render_blob,
        )
    )


@hookimpl
def register_backends(register):
    register(EchoBackend())


@hookimpl
def register_catalog_entries(register):
    for model_id in ("echo-1", "echo-2"):
        register(
            ModelSpec(
                id=model_id,
                backend="echo",
                tasks=[TASK],
                source="package:altlas_fixture_echo/weights.txt",
                default_for=[TASK] if model_id == "echo-1" else [],
            )
        )
    register(
        ModelSpec(
            id="blob-1",
            backend="echo",
            tasks=[BLOB_TASK],
            source="package:altlas_fixture_echo/weights.txt",
            default_for=[BLOB_TASK],
        )
    )


@hookimpl
def register_model_hosts(register):
    register(FixtureHost())


@hookimpl
def register_caches(register):
    register(DictCache())


@hookimpl
def register_combiners(register):
    register(JoinCombiner())


@hookimpl
def register_selection_strategies(register):
    register(LastStrategy())


@hookimpl
def startup(runtime):
    EVENTS.append(f"startup:{len(runtime.catalog)}")


@hookimpl
async def shutdown(runtime):
    EVENTS.append("shutdown")


@hookimpl
def render_error(error, request_id):
    if getattr(error, "code", None) != "fixture_teapot":
        return None
    return {"error": {"type": error.type, "message": "I'm a teapot", "param": None,
                      "code": error.code, "request_id": request_id}}


@hookimpl
def register_routes(register):
    register(PluginRoute("/api/plugins/fixture-echo/ping", ping, methods=("GET",)))
