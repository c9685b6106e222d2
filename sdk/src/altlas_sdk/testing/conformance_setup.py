"""The setup every :class:`~altlas_sdk.testing.BackendConformance` test shares: the class
attributes a plugin's subclass sets, what it may override, the fixtures (one real runtime
and one loaded model per class) and the helpers the tests call."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec
import pytest

from altlas_sdk.backend import Backend, LoadedModel
from altlas_sdk.catalog import ModelSpec
from altlas_sdk.errors import AltlasError, InvalidInput
from altlas_sdk.tasks import TaskSpec

if TYPE_CHECKING:
    from httpx2 import Response
    from msgspec import Struct
    from starlette.testclient import TestClient

    from altlas.runtime import Runtime


class ConformanceSetup:
    """The attributes, overridable methods, fixtures and helpers of
    :class:`~altlas_sdk.testing.BackendConformance`, which documents them."""

    plugin: ClassVar[str]
    model_id: ClassVar[str]
    valid_inputs: ClassVar[Any]
    bad_inputs: ClassVar[Any]
    heavy_modules: ClassVar[tuple[str, ...]]

    task: ClassVar[str | None] = None
    valid_parameters: ClassVar[dict[str, Any]] = {}
    bad_parameters: ClassVar[dict[str, Any] | None] = None
    bad_input_error: ClassVar[type[AltlasError]] = InvalidInput
    slow_inputs: ClassVar[Any] = None
    slow_parameters: ClassVar[dict[str, Any]] = {}
    environ: ClassVar[dict[str, str]] = {}

    # --- what a subclass may override -----------------------------------------------

    def model_spec(self, model_dir: Path) -> ModelSpec | None:
        """Prepare the model under test before the runtime starts.

        Write files into ``model_dir`` (the service's MODEL_DIR) and return a catalog
        entry for ``model_id``, or ``None`` when the plugin's own entry or the backend's
        discovery of a file in MODEL_DIR provides it. The default does nothing.
        """
        return None

    def check_output(self, output: Struct) -> None:
        """Assert what the output of ``valid_inputs`` must contain (already checked to
        be the task's output type). The default checks nothing more."""

    # --- fixtures: one runtime and one loaded model per class ---------------------------

    @pytest.fixture(scope="class")
    @classmethod
    def conformance_runtime(cls, tmp_path_factory: pytest.TempPathFactory) -> Runtime:
        """The real runtime with only this plugin (and the built-ins) loaded."""
        from altlas.config import Settings
        from altlas.runtime import Runtime

        root = tmp_path_factory.mktemp(f"conformance-{cls.plugin}")
        model_dir = root / "models"
        model_dir.mkdir()
        environ = {
            "MODEL_DIR": str(model_dir),
            "CACHE_DIR": str(root / "cache"),
            "USE_GPU": "false",
            "ALTLAS_LOAD_PLUGINS": cls.plugin,
            **cls.environ,
        }
        settings = Settings.load(environ=environ)
        spec = cls().model_spec(model_dir)
        if spec is not None:
            # The entry enters the catalog as an operator's [models.<id>] table would.
            settings = dataclasses.replace(
                settings, models={**settings.models, spec.id: msgspec.to_builtins(spec)}
            )
        return Runtime(settings)

    @pytest.fixture(scope="class")
    @classmethod
    def conformance_client(cls, conformance_runtime: Runtime) -> Iterator[TestClient]:
        """The real HTTP app over ``conformance_runtime``, lifespan running."""
        from starlette.testclient import TestClient

        from altlas.http.app import create_app

        app = create_app(conformance_runtime)
        # As localhost: the service refuses Host names outside ALLOWED_HOSTS, and
        # TestClient's own default, 'testserver', is not one.
        with TestClient(app, base_url="http://localhost", raise_server_exceptions=False) as client:
            yield client

    @pytest.fixture
    def conformance_model(
        self, conformance_runtime: Runtime, conformance_client: TestClient
    ) -> LoadedModel:
        """The model under test, loaded through ``POST /api/models/{id}/load`` (a no-op
        when it already is)."""
        response = conformance_client.post(f"/api/models/{self.model_id}/load")
        assert response.status_code == 200, f"loading {self.model_id} failed: {response.text}"
        model = conformance_runtime.models.loaded_model(self.model_id)
        assert model is not None
        return model

    # --- helpers ----------------------------------------------------------------------

    def _task(self, runtime: Runtime) -> str:
        return self.task or runtime.catalog.get(self.model_id).spec.task

    def _task_spec(self, runtime: Runtime) -> TaskSpec:
        return runtime.registry.tasks[self._task(runtime)].item

    def _backend(self, runtime: Runtime) -> Backend:
        return runtime.registry.backends[runtime.catalog.get(self.model_id).spec.backend].item

    def _decode(self, runtime: Runtime, inputs: Any, parameters: Any) -> tuple[Struct, Struct]:
        spec = self._task_spec(runtime)
        try:
            return spec.decode_inputs(inputs), spec.decode_parameters(parameters)
        except msgspec.ValidationError as error:
            raise AssertionError(
                f"inputs {inputs!r} / parameters {parameters!r} do not fit task "
                f"'{spec.id}' ({error}); the suite's inputs must pass the task's schema"
            ) from None

    def _bad_parameters(self) -> dict[str, Any]:
        return self.valid_parameters if self.bad_parameters is None else self.bad_parameters

    def _post(
        self, client: TestClient, runtime: Runtime, inputs: Any, parameters: dict[str, Any]
    ) -> Response:
        """``POST /api/inference/`` as JSON; ``bytes`` in the inputs (an image, a sound)
        travel base64-encoded, as a client sends them. The response cache is skipped:
        every answer must come from the model under test."""
        body = {
            "model_id": self.model_id,
            "task": self._task(runtime),
            "inputs": inputs,
            "parameters": parameters,
            "cache": False,
        }
        return client.post(
            "/api/inference/",
            content=msgspec.json.encode(body),
            headers={"content-type": "application/json"},
        )

    def _assert_output(self, runtime: Runtime, output: object) -> None:
        expected = self._task_spec(runtime).output_type
        assert isinstance(output, expected), (
            f"expected {expected.__name__}, got {type(output).__name__}: {output!r}"
        )
        self.check_output(output)  # type: ignore[arg-type]
