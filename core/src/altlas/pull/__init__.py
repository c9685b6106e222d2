"""Pulls: model files downloaded ahead of time, with progress.

- :mod:`.transfer`: one file's download (resumed with HTTP ``Range``, verified with
  SHA-256, renamed into place once complete);
- :mod:`.downloads`: downloads shared by everyone who asks for the same file;
- :mod:`.disk`: the disk budget (``DOWNLOAD_DISK_LIMIT``) and its 507;
- :mod:`.service`: a pull of a catalog model or a source reference, as events.

Nothing is downloaded unless asked: by ``altlas pull``, ``POST /api/models/pull``,
Ollama's ``/api/pull``, or a load of a model whose source downloads.
"""
