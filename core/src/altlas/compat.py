"""Which SDK versions a third-party plugin supports, checked before it is imported.

A plugin declares the ``altlas-sdk`` releases it works with as an ordinary dependency
(``altlas-sdk>=0.1,<0.2``). The core reads that requirement from the plugin
distribution's metadata (``Requires-Dist``) and compares it with the installed SDK; a
plugin whose range excludes it is skipped and reported, never imported, since its code
may use names this SDK lacks. A plugin that names no range is taken as compatible.
"""

from __future__ import annotations

from importlib.metadata import Distribution, PackageNotFoundError, version

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

SDK_DISTRIBUTION = "altlas-sdk"


def installed_sdk_version() -> str:
    """The installed SDK's version, from its distribution metadata."""
    try:
        return version(SDK_DISTRIBUTION)
    except PackageNotFoundError:
        # Running from a source tree without the SDK installed as a distribution.
        from altlas_sdk import __version__

        return __version__


def sdk_requirement(distribution: Distribution) -> Requirement | None:
    """The distribution's unconditional requirement on ``altlas-sdk``, or ``None``.

    Requirements behind an extra or an environment marker that does not hold here are
    not the plugin's base requirement and are ignored.
    """
    for line in distribution.requires or []:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        if canonicalize_name(requirement.name) != SDK_DISTRIBUTION:
            continue
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        return requirement
    return None


def sdk_incompatibility(distribution: Distribution, sdk_version: str | None = None) -> str | None:
    """Why ``distribution`` cannot run with the installed SDK, or ``None`` when it can."""
    requirement = sdk_requirement(distribution)
    if requirement is None or not str(requirement.specifier):
        return None
    installed = sdk_version or installed_sdk_version()
    # Pre-releases count: a development SDK must still load the plugins written for it.
    if requirement.specifier.contains(installed, prereleases=True):
        return None
    name = distribution.metadata["Name"]
    return (
        f"incompatible SDK: {name} requires {SDK_DISTRIBUTION}{requirement.specifier} but "
        f"{SDK_DISTRIBUTION} {installed} is installed; install a release of {name} "
        f"that supports {SDK_DISTRIBUTION} {installed}"
    )
