"""The plugin author's test kit: pytest fixtures and a conformance suite.

Install it with ``pip install 'altlas-sdk[testing]'`` (it needs the core to build a real
service). pytest then loads :mod:`altlas_sdk.testing.plugin` by itself, through the
``pytest11`` entry point ``altlas``, which provides the ``altlas_*`` fixtures;
:class:`BackendConformance` is the suite a plugin's tests subclass, one class per model,
:class:`CacheConformance` the one for each response cache it registers.
:mod:`altlas_sdk.testing.service` builds a real service, or a model from its real files,
where a test needs one outside those fixtures (shared by a module, with a config file).
"""

from __future__ import annotations

import pytest

# The suite's plain ``assert`` statements should explain their failures like a test
# module's do; this must run before the module is imported.
pytest.register_assert_rewrite(
    "altlas_sdk.testing.conformance",
    "altlas_sdk.testing.conformance_setup",
    "altlas_sdk.testing.cache_conformance",
)

from altlas_sdk.testing.cache_conformance import CacheConformance  # noqa: E402
from altlas_sdk.testing.conformance import BackendConformance  # noqa: E402

__all__ = ["BackendConformance", "CacheConformance"]
