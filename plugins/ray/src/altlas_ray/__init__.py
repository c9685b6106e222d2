"""altlas plugin: the ``ray`` model host (``MODEL_HOST=ray``).

Each loaded model runs in Ray actors of its own, on a local Ray instance or on a
cluster (``RAY_ADDRESS``), so a native crash takes down that model only and capacity
grows with the cluster. Importing this package does not import Ray: the host imports
it when the core starts it.
"""

from __future__ import annotations

from collections.abc import Callable

from altlas_ray.host import RayHost
from altlas_sdk import ModelHost, hookimpl

__version__ = "0.1.0"


@hookimpl
def register_model_hosts(register: Callable[[ModelHost], None]) -> None:
    register(RayHost())
