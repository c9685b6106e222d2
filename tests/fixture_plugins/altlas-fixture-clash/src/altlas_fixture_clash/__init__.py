"""A plugin that registers the backend name 'echo' a second time."""

from altlas_fixture_echo import EchoBackend
from altlas_sdk import hookimpl


@hookimpl
def register_backends(register):
    register(EchoBackend())
