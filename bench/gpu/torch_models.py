"""GPU check: the memory manager and the resource monitor on a real GPU with real torch
models (YOLO pose, EfficientNet-Lite0) and NVML. Run on a machine with an NVIDIA GPU:

    python bench/gpu/torch_models.py      # prints a JSON report (also $OUT/gpu_report.json)

It runs both models with USE_GPU=true and false (device, answers, ms per image, memory
measured), reads NVML through the resource monitor, then sets a GPU budget that fits
one model and checks that loading the other evicts it. The ms per image are model runs:
no response cache, ``cache=False``, and each answer checked to come from the model (the
run stops with an error otherwise); the same image again would be a cache hit.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import io
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model_path import check_response

from altlas.config import Settings
from altlas.monitor import ResourceMonitor
from altlas.runtime import Runtime
from altlas_sdk.wire import InferenceRequest

YOLO, IMAGENET = "yolo11n-pose", "efficientnet-lite0"


def images() -> dict[str, bytes]:
    """bus.jpg from Ultralytics' assets, scikit-image's coffee photo as PNG."""
    import skimage.data
    from PIL import Image

    assets = Path(importlib.util.find_spec("ultralytics").submodule_search_locations[0])
    buffer = io.BytesIO()
    Image.fromarray(skimage.data.coffee()).save(buffer, format="PNG")
    return {YOLO: (assets / "assets" / "bus.jpg").read_bytes(), IMAGENET: buffer.getvalue()}


def runtime(use_gpu: str) -> Runtime:
    env = {
        "ALTLAS_LOAD_PLUGINS": "yolo,imagenet",
        "USE_GPU": use_gpu,
        "MODEL_DIR": "/tmp/altlas-gpu/models",
        "CACHE_DIR": "/tmp/altlas-gpu/cache",
        "KEEP_ALIVE": "-1",
        "MIN_RESIDENCY": "0",
        "RESPONSE_CACHE": "none",
    }
    return Runtime(Settings.load(environ=env))


async def run(rt: Runtime, model_id: str, image: bytes, repeat: int = 20) -> tuple[Any, float]:
    """The first answer, and milliseconds per image over ``repeat`` more."""
    request = InferenceRequest(model_id=model_id, inputs={"image": image}, cache=False)
    first = await rt.inference.run_inference(request)
    started = time.perf_counter()
    responses = [await rt.inference.run_inference(request) for _ in range(repeat)]
    elapsed = time.perf_counter() - started
    for response in (first, *responses):
        timing = {"inference_ms": response.timing.inference_ms}
        check_response(
            f"{model_id} ms per image", {"from_cache": response.from_cache, "timing": timing}
        )
    return first.outputs, elapsed / max(repeat, 1) * 1000


async def on_device(use_gpu: str, data: dict[str, bytes]) -> dict[str, Any]:
    rt = runtime(use_gpu)
    detections, yolo_ms = await run(rt, YOLO, data[YOLO])
    labels, imagenet_ms = await run(rt, IMAGENET, data[IMAGENET])
    usage = ResourceMonitor(rt).get_current_usage()
    report = {
        "persons": sum(1 for d in detections.detections if d.label == "person"),
        "top1": [labels.labels[0].label, labels.labels[0].score],
        "ms_per_image": {YOLO: round(yolo_ms, 2), IMAGENET: round(imagenet_ms, 2)},
        "models": {
            m: [rt.models.status(m).device, str(rt.models.status(m).memory_measured)]
            for m in (YOLO, IMAGENET)
        },
        "gpus": [[g.name, g.memory_total_bytes, g.memory_used_bytes] for g in usage.gpus],
        "gpu_note": usage.gpu_note,
    }
    await rt.stop()
    return report


async def gpu_budget(data: dict[str, bytes]) -> dict[str, Any]:
    # Measure both with the CUDA context already there, unload, then budget for one.
    rt = runtime("true")
    for model_id in (YOLO, IMAGENET):
        await run(rt, model_id, data[model_id], repeat=0)
    sizes = [rt.models.status(m).memory_measured.gpu_bytes for m in (YOLO, IMAGENET)]
    for model_id in (YOLO, IMAGENET):
        await rt.models.unload_model(model_id)
    budget_mb = max(sizes) // 2**20 + 1
    rt.models.settings = dataclasses.replace(rt.models.settings, gpu_memory_limit=budget_mb)
    for model_id in (YOLO, IMAGENET):
        await run(rt, model_id, data[model_id], repeat=0)
    report = {
        "gpu_bytes_measured": sizes,
        "budget_mb": budget_mb,
        "loaded_after": [m for m in (YOLO, IMAGENET) if rt.models.is_loaded(m)],
        "events": {f"{event}:{model}": n for (event, model), n in rt.models.counts.items()},
    }
    await rt.stop()
    return report


async def main() -> dict[str, Any]:
    data = images()
    return {
        "use_gpu=true": await on_device("true", data),
        "use_gpu=false": await on_device("false", data),
        "gpu_budget": await gpu_budget(data),
    }


if __name__ == "__main__":
    os.environ.setdefault("YOLO_OFFLINE", "1")
    try:
        result = asyncio.run(main())
    except Exception:  # noqa: BLE001 - a device run reports what failed, then ends
        result = {"error": traceback.format_exc()}
    text = json.dumps(result, indent=1)
    print(text)
    Path(os.environ.get("OUT", "/tmp"), "gpu_report.json").write_text(text)
