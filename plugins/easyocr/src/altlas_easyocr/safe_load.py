"""EasyOCR's weights, unpickled with ``torch.load(weights_only=True)``.

EasyOCR 1.7 loads its detector and recognizer with ``torch.load(...,
weights_only=False)``: a crafted ``.pth`` in the model's folder would run code. Its
files are plain state dicts (tensors in an ``OrderedDict``), which the restricted
loader reads, so the two EasyOCR modules that call ``torch.load`` get a stand-in for
``torch`` whose ``load`` forces ``weights_only=True``; everything else is torch's own.
Only a load inside :func:`trusting` (an entry with ``trust_pickled_weights = true``)
keeps EasyOCR's unrestricted call. The choice is per thread (a context variable), so
two models loading at once never see each other's.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
from collections.abc import Iterator
from typing import Any

#: The EasyOCR modules that unpickle weights.
LOADING_MODULES = ("easyocr.detection", "easyocr.recognition")

_trusted: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "altlas_easyocr_trusted", default=False
)


class _RestrictedTorch:
    """``torch`` as EasyOCR's loading modules see it: ``load`` is restricted."""

    def __init__(self, torch: Any) -> None:
        self._torch = torch

    def __getattr__(self, name: str) -> Any:
        return getattr(self._torch, name)

    def load(self, *args: Any, **kwargs: Any) -> Any:
        """``torch.load`` with ``weights_only=True`` unless the load is trusted."""
        if not _trusted.get():
            kwargs["weights_only"] = True
        return self._torch.load(*args, **kwargs)


def restrict_easyocr_loads() -> None:
    """Give EasyOCR's loading modules the restricted ``torch`` (once; idempotent)."""
    for name in LOADING_MODULES:
        module = importlib.import_module(name)
        current = module.torch
        if not isinstance(current, _RestrictedTorch):
            module.torch = _RestrictedTorch(current)


@contextlib.contextmanager
def trusting(trusted: bool) -> Iterator[None]:
    """Within the block (on this thread), loads are unrestricted when ``trusted``."""
    token = _trusted.set(trusted)
    try:
        yield
    finally:
        _trusted.reset(token)
