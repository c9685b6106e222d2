"""The decoded-pixel budget of a batch (``MAX_BATCH_PIXELS``), through a real server and
the real YOLO pose model: concurrent large images are never decoded all at once, the
batch route splits its images the same way, and the memory a burst decoded goes back
to the system afterwards."""

from __future__ import annotations

import base64
import io
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

MODEL = "yolo11n-pose"
SIDE = 4000  # 16 megapixels: 64 MB decoded as RGBA
BUDGET = 2 * SIDE * SIDE  # two such images per backend call
MB = 1024 * 1024


def _png(side: int) -> bytes:
    """A flat translucent RGBA PNG: a few KB on the wire, ``side``² pixels decoded."""
    buffer = io.BytesIO()
    Image.new("RGBA", (side, side), (10, 200, 30, 128)).save(buffer, format="PNG")
    return buffer.getvalue()


def _serve(port: int) -> list[str]:
    return [str(Path(sys.executable).parent / "altlas"), "serve", "--port", str(port)]


@pytest.fixture(scope="module")
def http(
    tmp_path_factory: pytest.TempPathFactory,
    run_server: Callable[..., AbstractContextManager[Any]],
) -> Iterator[httpx.Client]:
    root = tmp_path_factory.mktemp("pixels")
    (root / "models").mkdir()
    env = {
        "MODEL_DIR": str(root / "models"),
        "CACHE_DIR": str(root / "cache"),
        "RESPONSE_CACHE": "none",
        "USE_GPU": "false",
        "MAX_BATCH_PIXELS": str(BUDGET),
        "MAX_BATCH_SIZE": "16",
        # Without the budget, a batch would wait for all eight requests and take them.
        "BATCH_MAX_WAIT_MS": "3000",
        "QUEUE_TIMEOUT": "300",
    }
    with run_server(_serve, env) as server:
        with httpx.Client(base_url=server.base, timeout=300) as client:
            yield client


def _detect(http: httpx.Client, image: bytes) -> httpx.Response:
    return http.post(
        "/api/tasks/object-detection",
        files={"image": ("big.png", image, "image/png")},
        data={"model_id": MODEL},
    )


def _rss(http: httpx.Client) -> int:
    return http.get("/api/system/resources").json()["ram"]["process_rss_bytes"]


def _batch_sizes(http: httpx.Client) -> dict[str, float]:
    """The ``altlas_batch_size`` histogram of the model: bucket bound -> count."""
    from prometheus_client.parser import text_string_to_metric_families

    return {
        sample.labels["le"]: sample.value
        for family in text_string_to_metric_families(http.get("/metrics").text)
        for sample in family.samples
        if sample.name == "altlas_batch_size_bucket" and sample.labels["model"] == MODEL
    }


def test_concurrent_large_images_are_batched_within_the_pixel_budget(http: httpx.Client) -> None:
    image = _png(SIDE)
    assert _detect(http, image).status_code == 200  # loads the model, warms it up
    warm = _rss(http)
    answers: list[int] = []
    threads = [
        threading.Thread(target=lambda: answers.append(_detect(http, image).status_code))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert answers == [200] * 8
    buckets = _batch_sizes(http)
    # Nine requests in all (the warm-up, then eight), no call with more than two.
    assert buckets["+Inf"] >= 5
    assert buckets["2.0"] == buckets["+Inf"]
    # The burst decoded about a gigabyte in all; what it freed went back to the system.
    assert _rss(http) < warm + 200 * MB


def test_the_batch_route_splits_its_images_by_the_budget(http: httpx.Client) -> None:
    image = _png(SIDE)
    request = {"model_id": MODEL, "task": "object-detection"}
    encoded = base64.b64encode(image).decode()
    response = http.post(
        "/api/inference/batch",
        json={"requests": [{**request, "inputs": {"image": encoded}} for _ in range(5)]},
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [result["outputs"]["width"] for result in results] == [SIDE] * 5


def test_images_are_cut_into_runs_within_the_budget_in_order() -> None:
    """The batch route's split, on its own: runs in request order, each within the
    budget, an image over the budget alone in its run, unreadable bytes costing 0."""
    from altlas.inference.batch import _within_pixels
    from altlas.inference.decode import TaskCall
    from altlas.inference.prepare import PreparedRequest
    from altlas_sdk import ModelSpec
    from altlas_sdk.vision.tasks import VISION_TASKS, DetectionParameters, ImageInput

    detection = next(spec for spec in VISION_TASKS if spec.id == "object-detection")
    model = ModelSpec(id=MODEL, backend="yolo", tasks=["object-detection"], source="x.pt")

    def pending(index: int, image: bytes) -> tuple[int, PreparedRequest, None]:
        call = TaskCall(detection, ImageInput(image=image), DetectionParameters())
        return index, PreparedRequest(model, call, "id"), None

    sides = [1000, 1000, 1000, 3000, 500, 500]
    items = [pending(i, _png(side)) for i, side in enumerate(sides)]
    items.append(pending(len(items), b"not an image"))
    runs = _within_pixels(items, 2_100_000)
    assert [[index for index, _, _ in run] for run in runs] == [[0, 1], [2], [3], [4, 5, 6]]
    assert _within_pixels(items, 0) == [items]
