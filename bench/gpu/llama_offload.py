"""GPU check: altlas-llama-cpp on a CUDA build of llama-cpp-python. Writes a random-
weight llama-architecture GGUF (real compute, meaningless text) and reports, with
USE_GPU on and off and under a small GPU_MEMORY_LIMIT: the device, the layers offloaded,
the memory measured and tokens/s.

    python bench/gpu/llama_offload.py     # EMBD, LAYERS, TOKENS size the model and run
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model_path import check_response

ROOT = Path("/tmp/altlas-llama-gpu")
CONFIG = """
[models.tiny]
backend = "llama-cpp"
tasks = ["text-generation"]
source = "tiny.gguf"
options = { n_ctx = 256, n_threads = 8 }
"""


def offloaded_layers(model: Any) -> int | None:
    """The n_gpu_layers the loaded Llama object was given."""
    llama = model.generators[0] if model.generators else None
    params = getattr(llama, "model_params", None)
    return None if params is None else params.n_gpu_layers


async def generate(use_gpu: str, limit_mb: int | None = None) -> dict[str, Any]:
    from altlas.config import Settings
    from altlas.runtime import Runtime
    from altlas_sdk.wire import InferenceRequest

    env = {
        "MODEL_DIR": str(ROOT),
        "CACHE_DIR": str(ROOT / "cache"),
        "ALTLAS_LOAD_PLUGINS": "llama-cpp",
        "USE_GPU": use_gpu,
        # The same greedy request twice: the second would be a cache hit.
        "RESPONSE_CACHE": "none",
    }
    if limit_mb is not None:
        env["GPU_MEMORY_LIMIT"] = str(limit_mb)
    rt = Runtime(Settings.load(environ=env, config_path=ROOT / "altlas.toml"))
    parameters = {"max_tokens": int(os.environ.get("TOKENS", "200")), "temperature": 0}
    request = InferenceRequest(
        model_id="tiny", inputs="hello world", parameters={**parameters, "raw": True}, cache=False
    )
    await rt.inference.run_inference(request)
    started = time.perf_counter()
    response = await rt.inference.run_inference(request)
    seconds = time.perf_counter() - started
    timing = {"inference_ms": response.timing.inference_ms}
    check_response("tokens_per_s", {"from_cache": response.from_cache, "timing": timing})
    status = rt.models.status("tiny")
    tokens = response.outputs.usage.completion_tokens
    report = {
        "device": status.device,
        "layers_on_gpu": offloaded_layers(rt.models.loaded_model("tiny")),
        "tokens_per_s": round(tokens / seconds, 1),
        "memory_measured": str(status.memory_measured),
    }
    await rt.stop()
    return report


async def main() -> dict[str, Any]:
    import llama_cpp

    from altlas_llama_cpp.testing import write_tiny_gguf

    ROOT.mkdir(parents=True, exist_ok=True)
    model = ROOT / "tiny.gguf"
    width, layers = int(os.environ.get("EMBD", "1024")), int(os.environ.get("LAYERS", "12"))
    write_tiny_gguf(model, n_embd=width, n_layer=layers)
    (ROOT / "altlas.toml").write_text(CONFIG)
    return {
        "supports_gpu_offload": bool(llama_cpp.llama_supports_gpu_offload()),
        "gguf_mb": round(model.stat().st_size / 2**20, 1),
        "gpu": await generate("true"),
        "cpu": await generate("false"),
        "gpu_limit_64mb": await generate("true", 64),
    }


if __name__ == "__main__":
    try:
        result = asyncio.run(main())
    except Exception:  # noqa: BLE001 - a device run reports what failed, then ends
        result = {"error": traceback.format_exc()}
    text = json.dumps(result, indent=1)
    print(text)
    Path(os.environ.get("OUT", "/tmp"), "llama_gpu.json").write_text(text)
