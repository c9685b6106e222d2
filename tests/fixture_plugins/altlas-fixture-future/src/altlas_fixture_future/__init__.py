"""A fixture plugin written against a later SDK (0.2): it imports a name SDK 0.1 lacks,
so the core must skip it on its declared range, before importing it."""

from altlas_sdk import StreamingBackend  # noqa: F401 - the name only a later SDK has
