"""Audio for plugins: the audio task types and the shared audio handling.

- :mod:`altlas_sdk.audio.tasks`: the ``speech-to-text``, ``text-to-speech``,
  ``audio-classification`` and ``speaker-diarization`` task specs and their Structs.
- :mod:`altlas_sdk.audio.decode`: any container or codec to float samples at the rate a
  model wants, with limits on bytes and duration and a clear 4xx for bad uploads.
- :mod:`altlas_sdk.audio.encode`: WAV and raw PCM out.
- :mod:`altlas_sdk.audio.attribution`: who said what, from a transcript and speaker turns.

Importing this package imports neither numpy nor PyAV: :mod:`~altlas_sdk.audio.decode`
imports them when it decodes. Audio plugins depend on ``altlas-sdk[audio]``.
"""
