"""Resemblyzer's GE2E speaker encoder as a torch module, loaded from its checkpoint.

Three LSTM layers (40 -> 256) and a linear layer give a 256-dimension embedding,
rectified and L2-normalized, for each 1.6 s window (160 mel frames) of speech. The
module is defined here so that only the weights file (``pretrained.pt`` in the
Resemblyzer package) is needed, not Resemblyzer's audio stack (librosa, webrtcvad).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from altlas_sdk.errors import BackendUnavailable, InvalidModelFile

#: Mel frames in one window the encoder embeds (1.6 s).
WINDOW_FRAMES = 160
HIDDEN = 256
LAYERS = 3
MELS = 40


def _import_torch() -> Any:
    try:
        import torch
    except ImportError:
        raise BackendUnavailable(
            "torch is not installed: pip install altlas-resemblyzer (see its README for the "
            "torch build to use)"
        ) from None
    return torch


def load_encoder(path: Path, device: str) -> Any:
    """The encoder with the checkpoint's weights, in eval mode on ``device``."""
    torch = _import_torch()

    class SpeakerEncoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = torch.nn.LSTM(MELS, HIDDEN, LAYERS, batch_first=True)
            self.linear = torch.nn.Linear(HIDDEN, HIDDEN)

        def forward(self, mels: Any) -> Any:
            _, (hidden, _) = self.lstm(mels)
            raw = torch.relu(self.linear(hidden[-1]))
            return raw / torch.norm(raw, dim=1, keepdim=True).clamp_min(1e-12)

    encoder = SpeakerEncoder()
    try:
        checkpoint = torch.load(str(path), map_location="cpu", weights_only=True)
        state = checkpoint.get("model_state", checkpoint)
        # The checkpoint also holds the GE2E loss's similarity scale and bias: unused here.
        wanted = {key: value for key, value in state.items() if not key.startswith("similarity")}
        encoder.load_state_dict(wanted, strict=True)
    except (RuntimeError, OSError, KeyError, AttributeError, ValueError) as error:
        raise InvalidModelFile(
            f"'{path}' is not a Resemblyzer speaker encoder checkpoint: {error}"
        ) from None
    return encoder.eval().to(device)


def embed(encoder: Any, windows: Any, device: str) -> Any:
    """Embeddings (numpy, ``(n, 256)``) of mel windows shaped ``(n, 160, 40)``."""
    torch = _import_torch()
    with torch.inference_mode():
        return encoder(torch.from_numpy(windows).to(device)).cpu().numpy()
