"""The ``pyannote:`` model source: a pyannote pipeline folder, local or from the hub.

``pyannote:<org>/<repo>`` is the folder ``MODEL_DIR/<repo>`` when the user put it there
(``config.yaml`` with its ``segmentation/``, ``embedding/`` and ``plda/`` subfolders).
Otherwise, when ``HF_TOKEN`` is set (the repository is gated: its terms must be accepted
on huggingface.co first), the first load downloads the repository into
``CACHE_DIR/pyannote/<org>/<repo>``.
"""

from __future__ import annotations

import os
from pathlib import Path

from altlas_sdk import ModelSource, SourceContext
from altlas_sdk.errors import WeightsMissing
from altlas_sdk.paths import relative_parts

PIPELINE_FILE = "config.yaml"


class PyannoteSource(ModelSource):
    """Pipeline folders: in MODEL_DIR, or downloaded with the user's hub token."""

    scheme = "pyannote"

    @staticmethod
    def _repo(ref: str) -> tuple[str, str]:
        # Both parts become folder names under MODEL_DIR and CACHE_DIR.
        parts = relative_parts(ref, what=f"pyannote:{ref}")
        if len(parts) != 2:
            raise WeightsMissing(f"pyannote:{ref} must be pyannote:<org>/<repo>")
        return parts[0], parts[1]

    def locate(self, ref: str, context: SourceContext) -> Path:
        org, name = self._repo(ref)
        local = context.model_dir / name
        if (local / PIPELINE_FILE).is_file():
            return local
        return context.cache_dir / "pyannote" / org / name

    def is_available(self, ref: str, context: SourceContext) -> bool:
        return (self.locate(ref, context) / PIPELINE_FILE).is_file() or bool(
            os.environ.get("HF_TOKEN")
        )

    def missing_message(self, ref: str, context: SourceContext) -> str:
        org, name = self._repo(ref)
        return (
            f"weights missing: accept the terms of https://huggingface.co/{org}/{name}, "
            f"then put the repository's folder at {context.display(context.model_dir / name)} "
            "(config.yaml, "
            "segmentation/, embedding/, plda/) or set HF_TOKEN to let the first load "
            "download it"
        )

    def fetch(self, ref: str, context: SourceContext) -> Path:
        target = self.locate(ref, context)
        if (target / PIPELINE_FILE).is_file():
            return target
        token = os.environ.get("HF_TOKEN")
        if not token:
            raise WeightsMissing(self.missing_message(ref, context))
        org, name = self._repo(ref)
        try:
            from huggingface_hub import snapshot_download

            snapshot_download(f"{org}/{name}", token=token, local_dir=str(target))
        except Exception as error:  # noqa: BLE001 - network, auth and hub errors alike
            raise WeightsMissing(
                f"weights missing: could not download {org}/{name} from the hub ({error}); "
                + self.missing_message(ref, context)
            ) from None
        return target
