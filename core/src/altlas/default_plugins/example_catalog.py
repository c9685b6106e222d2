"""The design document's example models, whose weights the operator supplies.

Until the file is in MODEL_DIR they list as ``weights_missing``, and loading one
answers 409 saying which file to put where. Their backends come from the capability
plugins (``altlas-llama-cpp``, ``altlas-yolo``, ``altlas-whisper``).
"""

from __future__ import annotations

from collections.abc import Callable

from altlas_sdk import ModelSpec, hookimpl
from altlas_sdk.tasks import CHAT, OBJECT_DETECTION, SPEECH_TO_TEXT, TEXT_GENERATION

EXAMPLE_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        id="llama2-7b-q4",
        backend="llama-cpp",
        tasks=[TEXT_GENERATION, CHAT],
        source="llama-2-7b-chat.Q4_K_M.gguf",
        description="Llama 2 7B chat, 4-bit GGUF (supply the file; Llama 2 license).",
        license="llama2",
    ),
    ModelSpec(
        id="yolo-v8",
        backend="yolo",
        tasks=[OBJECT_DETECTION],
        source="yolov8n.pt",
        description="YOLOv8n, COCO-80 object detection (supply the file; AGPL-3.0).",
        license="AGPL-3.0",
    ),
    ModelSpec(
        id="whisper-small",
        backend="whisper",
        tasks=[SPEECH_TO_TEXT],
        source="whisper-small",
        description="Whisper small in CTranslate2 format: a folder (supply it; MIT).",
        license="MIT",
    ),
)


# tryfirst: the design document's example entries lead the catalog, whatever plugins
# are installed, so listings and selection ties do not change when one is added.
@hookimpl(tryfirst=True)
def register_catalog_entries(register: Callable[[ModelSpec], None]) -> None:
    for spec in EXAMPLE_MODELS:
        register(spec)
